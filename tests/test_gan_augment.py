"""DiffAugment, the mode-seeking term and the sample-set metrics (diversity, coverage, copying)
on small hand-made data: exact geometry, gradients, determinism, known answers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from v2i_jax.image import augment
from v2i_jax.image import metrics

POLICY = ("color", "translation", "cutout")


def _images(n=4, size=16, seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)), jnp.float32)


def test_translation_moves_pixels_exactly_and_fills_with_white():
  x = _images()
  key = jax.random.PRNGKey(3)
  out = np.asarray(augment.translation(x, key))
  dy = np.asarray(jax.random.randint(jax.random.split(key)[0], (4,), -2, 3))
  dx = np.asarray(jax.random.randint(jax.random.split(key)[1], (4,), -2, 3))
  expected = np.ones_like(np.asarray(x))
  for b in range(4):
    for r in range(16):
      for c in range(16):
        if 0 <= r - dy[b] < 16 and 0 <= c - dx[b] < 16:
          expected[b, r, c] = x[b, r - dy[b], c - dx[b]]
  np.testing.assert_allclose(out, expected, atol=1e-6)


def test_cutout_blanks_one_square_per_image():
  x = jnp.ones((8, 16, 16, 3))
  out = np.asarray(augment.cutout(x, jax.random.PRNGKey(0)))
  blank = (out == 0).all(-1)
  for b in range(8):
    rows, cols = np.nonzero(blank[b])
    assert 0 < blank[b].sum() <= 64  # at most 8 x 8, less where it leaves the image
    assert blank[b, rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one rectangle
  np.testing.assert_array_equal(out[~blank], 1.0)


def test_diff_augment_is_deterministic_per_key_changes_images_and_passes_gradients():
  x = _images()
  a = augment.diff_augment(x, jax.random.PRNGKey(1), POLICY)
  b = augment.diff_augment(x, jax.random.PRNGKey(1), POLICY)
  c = augment.diff_augment(x, jax.random.PRNGKey(2), POLICY)
  assert a.shape == x.shape
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert float(jnp.abs(a - c).mean()) > 0.05 and float(jnp.abs(a - x).mean()) > 0.05
  grad = jax.grad(lambda y: augment.diff_augment(y, jax.random.PRNGKey(1), POLICY).sum())(x)
  assert np.isfinite(np.asarray(grad)).all() and float(jnp.abs(grad).sum()) > 0
  np.testing.assert_array_equal(np.asarray(augment.diff_augment(x, jax.random.PRNGKey(1), ())),
                                np.asarray(x))
  with pytest.raises(ValueError, match="unknown DiffAugment parts"):
    augment.diff_augment(x, jax.random.PRNGKey(1), ("flip",))


def test_mode_seeking_loss_is_large_for_identical_images_and_shrinks_with_spread():
  z1, z2 = jnp.zeros((4, 8)), jnp.ones((4, 8))
  x = _images()
  same = augment.mode_seeking_loss(x, x, z1, z2)
  apart = augment.mode_seeking_loss(x, -x, z1, z2)
  assert float(same) > 1e4 and float(apart) < 2.0
  grad = jax.grad(lambda y: augment.mode_seeking_loss(x, y, z1, z2))(-x)
  assert float(jnp.abs(grad).sum()) > 0


def test_identical_samples_have_zero_diversity_and_spread():
  features = np.tile(np.arange(5.0), (6, 1))
  real = np.random.default_rng(0).normal(size=(4, 5))
  images = np.zeros((6, 8, 8, 3), np.uint8) + 77
  spread = metrics.per_keyword_spread(features, np.zeros(6, int), real, np.zeros(4, int),
                                      images, np.random.default_rng(1).integers(
                                          0, 255, (4, 8, 8, 3), dtype=np.uint8))
  assert spread[0]["diversity"] == pytest.approx(0.0, abs=1e-6)
  assert spread[0]["pixel_spread"] == 0.0 and spread[0]["real_pixel_spread"] > 10
  assert spread[0]["nearest_real_coverage"] == 0.25  # one real image is everyone's nearest
  # Samples that are the real set itself are exactly as diverse as it and cover all of it.
  same = metrics.per_keyword_spread(real, np.zeros(4, int), real, np.zeros(4, int),
                                    np.zeros((4, 8, 8, 3), np.uint8),
                                    np.zeros((4, 8, 8, 3), np.uint8) + 1)
  assert same[0]["diversity"] == pytest.approx(1.0)
  assert same[0]["coverage"] == 1.0 and same[0]["nearest_real_coverage"] == 1.0


def test_coverage_and_density_on_a_known_layout():
  real = np.array([[0.0], [1.0], [10.0], [11.0]])  # k = 1: every real ball has radius 1
  fake = np.array([[0.5], [0.6]])  # inside the balls of 0 and 1 only
  coverage, density = metrics.coverage_density(real, fake, k=1)
  assert coverage == 0.5 and density == 2.0
  assert metrics.mean_pairwise_distance(np.array([[0.0], [2.0], [4.0]])) == pytest.approx(8 / 3)


def test_memorisation_ratio_is_zero_for_copies_and_not_for_new_images():
  rng = np.random.default_rng(0)
  real = rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
  copies = metrics.memorisation(real[[0, 0, 3]], real)
  # Zero up to float rounding (the distances are float32 matrix products).
  assert copies["memorisation_ratio"] == pytest.approx(0.0, abs=1e-6)
  assert copies["near_copy_rate"] == 1.0
  new = metrics.memorisation(rng.integers(0, 255, (5, 8, 8, 3), dtype=np.uint8), real)
  assert new["memorisation_ratio"] > 0.5 and new["near_copy_rate"] == 0.0
  with pytest.raises(metrics.MetricsError, match="at least 2"):
    metrics.mean_pairwise_distance(np.zeros((1, 3)))


def test_box_downsample_averages_blocks():
  images = np.arange(2 * 8 * 8 * 3, dtype=np.float32).reshape(2, 8, 8, 3)
  small = np.asarray(augment.box_downsample(images, 2))
  assert small.shape == (2, 2, 2, 3)
  np.testing.assert_allclose(small[1, 0, 1], images[1, :4, 4:].mean(axis=(0, 1)))
  assert augment.box_downsample(images, 8) is images  # full size: unchanged

