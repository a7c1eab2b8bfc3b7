"""Differentiable augmentation of D's inputs, and the GAN's extra loss terms.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"):
every image D sees, real or fake, in D's loss and in G's, goes through the same kind of random
colour, translation and cutout transform, drawn afresh per image; all three are differentiable,
so G learns through them. With a few images per keyword, D otherwise memorises the real ones
and its gradient stops telling G anything useful.

Images are [B, H, W, 3] float in [-1, 1] with white (1.0) backgrounds: translation fills with
white (the emoji set's background, so a shift does not draw a frame), cutout with 0 (grey), as
the reference code does.

Mode seeking (Mao et al. 2019, MSGAN): G pays 1 / (mean |G(z1, c) - G(z2, c)| / mean |z1 - z2|
+ eps) for two latent vectors of the same caption, so it cannot map every z to one picture.

:func:`box_downsample`: block averages, for the L1 term's coarse target and the judge's input.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

POLICIES = ("color", "translation", "cutout")


def check_policy(policy: Sequence[str]) -> tuple[str, ...]:
  """The policy as a tuple; raises ValueError naming the valid parts for an unknown one."""
  policy = tuple(policy)
  unknown = [p for p in policy if p not in POLICIES]
  if unknown:
    raise ValueError(f"unknown DiffAugment parts {unknown}; use any of {POLICIES}.")
  return policy


def color(x: jax.Array, rng: jax.Array) -> jax.Array:
  """Brightness +U(-0.5, 0.5), saturation xU(0, 2), contrast xU(0.5, 1.5), per image (the
  reference's ranges, on [-1, 1] pixels)."""
  b = x.shape[0]
  k1, k2, k3 = jax.random.split(rng, 3)
  per_image = lambda k, lo, hi: jax.random.uniform(k, (b, 1, 1, 1), x.dtype, lo, hi)
  x = x + per_image(k1, -0.5, 0.5)
  mean = x.mean(axis=3, keepdims=True)
  x = (x - mean) * per_image(k2, 0.0, 2.0) + mean
  mean = x.mean(axis=(1, 2, 3), keepdims=True)
  return (x - mean) * per_image(k3, 0.5, 1.5) + mean


def _shift_matrices(shifts: jax.Array, size: int, dtype) -> jax.Array:
  """[B] integer shifts -> [B, size, size] one-hot rows: (S @ v)[i] = v[i - shift] or 0."""
  i = jnp.arange(size)
  return (i[None, :, None] - shifts[:, None, None] == i[None, None, :]).astype(dtype)


def translation(x: jax.Array, rng: jax.Array, ratio: float = 0.125) -> jax.Array:
  """Shifts each image by up to ``ratio`` of its side in each direction, filling with white.

  Done as two small batched matrix products with one-hot shift matrices (cheap and exact on
  CPU, where per-image dynamic slices are slow)."""
  b, h, w, _ = x.shape
  ky, kx = jax.random.split(rng)
  max_y, max_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
  dy = jax.random.randint(ky, (b,), -max_y, max_y + 1)
  dx = jax.random.randint(kx, (b,), -max_x, max_x + 1)
  rows, cols = _shift_matrices(dy, h, x.dtype), _shift_matrices(dx, w, x.dtype)
  shifted = jnp.einsum("bij,bjkc->bikc", rows, x - 1.0)
  shifted = jnp.einsum("bkl,bilc->bikc", cols, shifted)
  return shifted + 1.0


def cutout(x: jax.Array, rng: jax.Array, ratio: float = 0.5) -> jax.Array:
  """Sets one square of ``ratio`` of the side per image, at a random centre, to 0."""
  b, h, w, _ = x.shape
  ky, kx = jax.random.split(rng)
  size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
  cy = jax.random.randint(ky, (b, 1, 1), 0, h + (1 - size_y % 2))
  cx = jax.random.randint(kx, (b, 1, 1), 0, w + (1 - size_x % 2))
  y, x_ = jnp.arange(h)[None, :, None], jnp.arange(w)[None, None, :]
  inside = ((y >= cy - size_y // 2) & (y < cy - size_y // 2 + size_y)
            & (x_ >= cx - size_x // 2) & (x_ < cx - size_x // 2 + size_x))
  return jnp.where(inside[..., None], jnp.zeros((), x.dtype), x)


def diff_augment(x: jax.Array, rng: jax.Array, policy: Sequence[str]) -> jax.Array:
  """The transforms of ``policy`` (a subset of :data:`POLICIES`, applied in that order)."""
  for name, key in zip(check_policy(policy), jax.random.split(rng, max(len(policy), 1))):
    x = {"color": color, "translation": translation, "cutout": cutout}[name](x, key)
  return x


def mode_seeking_loss(images_a: jax.Array, images_b: jax.Array, z_a: jax.Array, z_b: jax.Array,
                      eps: float = 1e-5) -> jax.Array:
  """MSGAN's term: 1 / (mean |G(z_a) - G(z_b)| / mean |z_a - z_b| + eps), same captions."""
  ratio = jnp.abs(images_a - images_b).mean() / jnp.abs(z_a - z_b).mean()
  return 1.0 / (ratio + eps)


def box_downsample(images: jax.Array, size: int) -> jax.Array:
  """[B, H, W, C] box-averaged to [B, size, size, C] (H a multiple of size); as is if H <= size.
  The GAN's L1 term compares images at this size; the judge reads its input through it."""
  b, h, w, c = images.shape
  factor = h // size
  if factor <= 1:
    return images
  return images.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))

