"""Paper G and D: every layer's shape, parameter counts by hand, fast == plain, grouped BN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from v2i_jax.image import models

B, Z, E = 2, 64, 100


def _intermediate_shapes(module, rngs, *args, **kwargs):
  """{layer name: output shape} of every submodule call, without computing anything."""
  def run(variables):
    _, state = module.apply(variables, *args, rngs=rngs, capture_intermediates=True,
                            mutable=["intermediates", "batch_stats"], **kwargs)
    return state["intermediates"]
  variables = jax.eval_shape(lambda: module.init(rngs, *args, **kwargs))
  shapes = jax.eval_shape(run, variables)
  flat = jax.tree_util.tree_flatten_with_path(shapes)[0]
  return {"/".join(str(getattr(k, "key", k)) for k in path[:-2]): leaf.shape
          for path, leaf in flat if str(getattr(path[-2], "key", "")) == "__call__"}, variables


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def test_generator_layer_shapes_and_parameter_count():
  rngs = {"params": jax.random.PRNGKey(0), "conditioning": jax.random.PRNGKey(1)}
  shapes, variables = _intermediate_shapes(
      models.Generator(), rngs, jnp.zeros((B, Z)), jnp.zeros((B, E)), train=True)
  assert shapes["project"] == (B, 4, 4, 512)
  assert shapes["up1"] == (B, 8, 8, 256)
  assert shapes["up2"] == (B, 16, 16, 128)
  assert shapes["up3"] == (B, 32, 32, 64)
  assert shapes["up4"] == (B, 64, 64, 3)
  assert shapes["up3_bn"] == (B, 32, 32, 64)
  # Bias-free 4x4 kernels (16 taps) plus BN scale and bias on every layer but the last.
  expected = (16 * (Z + E) * 512 + 2 * 512 + 16 * 512 * 256 + 2 * 256 + 16 * 256 * 128
              + 2 * 128 + 16 * 128 * 64 + 2 * 64 + 16 * 64 * 3)
  assert _count(variables["params"]) == expected
  # Running mean and variance per BN channel.
  assert _count(variables["batch_stats"]) == 2 * (512 + 256 + 128 + 64)


def test_discriminator_layer_shapes_and_parameter_count():
  shapes, variables = _intermediate_shapes(
      models.Discriminator(), {"params": jax.random.PRNGKey(0)}, jnp.zeros((B, 64, 64, 3)),
      jnp.zeros((B, E)), train=True)
  assert shapes["convs_0"] == (B, 32, 32, 64)
  assert shapes["convs_1"] == (B, 16, 16, 128)
  assert shapes["convs_2"] == (B, 8, 8, 256)
  assert shapes["convs_3"] == (B, 4, 4, 512)
  assert shapes["text"] == (B, 256)
  assert shapes["head"] == (B, 1)
  assert shapes[""] == (B,)  # One logit per (image, caption) pair.
  expected = (16 * 3 * 64 + 16 * 64 * 128 + 2 * 128 + 16 * 128 * 256 + 2 * 256
              + 16 * 256 * 512 + 2 * 512 + (E * 256 + 256) + 16 * (512 + 16) * 1)
  assert _count(variables["params"]) == expected


def test_fixed_discriminator_parameter_count():
  # Layer norm has the same per-channel scale and bias as BN (no running statistics); the joint
  # 1x1 conv maps the 512 + 16 concatenated channels back to 512 before the head.
  _, variables = _intermediate_shapes(
      models.Discriminator(norm="layer", joint=True), {"params": jax.random.PRNGKey(0)},
      jnp.zeros((B, 64, 64, 3)), jnp.zeros((B, E)), train=True)
  expected = (16 * 3 * 64 + 16 * 64 * 128 + 2 * 128 + 16 * 128 * 256 + 2 * 256
              + 16 * 256 * 512 + 2 * 512 + (E * 256 + 256) + (512 + 16) * 512 + 16 * 512 * 1)
  assert _count(variables["params"]) == expected
  assert "batch_stats" not in variables


def _init(module, images, captions, seed=0):
  # Jitted: op-by-op initialisation compiles every small op on its own (slow on CPU).
  return jax.jit(lambda key, x, c: module.init(key, x, c, train=False))(
      jax.random.PRNGKey(seed), images, captions)


def test_classifier_head_shapes_and_parameter_count():
  # AC-GAN's head: one Dense from the flattened 4x4x512 trunk features to the class logits.
  d = models.Discriminator(width=1 / 16, num_classes=36)
  variables = _init(d, jnp.zeros((B, 64, 64, 3)), jnp.zeros((B, E)))
  assert variables["params"]["classifier"]["kernel"].shape == (16 * 32, 36)
  without = _init(models.Discriminator(width=1 / 16), jnp.zeros((B, 64, 64, 3)), jnp.zeros((B, E)))
  assert _count(variables["params"]) - _count(without["params"]) == 16 * 32 * 36 + 36
  features = d.apply(variables, jnp.ones((B, 64, 64, 3)), train=False,
                     method=models.Discriminator.features)
  logits = d.apply(variables, features, method=models.Discriminator.classify)
  assert logits.shape == (B, 36) and logits.dtype == jnp.float32
  with pytest.raises(ValueError, match="no classifier head"):
    models.Discriminator(width=1 / 16).apply(without, features,
                                             method=models.Discriminator.classify)


def _swap_gap(discriminator, seed=0):
  """logit(x1, c1) + logit(x2, c2) - logit(x1, c2) - logit(x2, c1): 0 when D is additive."""
  rng = np.random.default_rng(seed)
  images = jnp.asarray(rng.uniform(-1, 1, (2, 64, 64, 3)), jnp.float32)
  captions = jnp.asarray(rng.normal(size=(2, E)), jnp.float32)
  variables = _init(discriminator, images, captions, seed)
  # Arrays go in as arguments: closed-over ones become constants that XLA folds (slow).
  score = jax.jit(lambda v, x, c: discriminator.apply(v, x, c, train=False))
  matched, swapped = score(variables, images, captions), score(variables, images, captions[::-1])
  return float(matched.sum() - swapped.sum()), float(jnp.abs(matched).mean())


def test_paper_discriminator_cannot_score_matching_and_the_joint_and_projection_ones_can():
  # The paper's head is linear in [image features; text map]: logit = f(image) + g(caption), so
  # swapping captions between two images never changes the sum of their logits.
  gap, scale = _swap_gap(models.Discriminator(width=1 / 16))
  assert abs(gap) < 1e-5 * max(scale, 1.0)
  gap, _ = _swap_gap(models.Discriminator(width=1 / 16, joint=True))
  assert abs(gap) > 1e-5
  # The projection term <V c, pooled features> is an image-caption product on its own.
  gap, scale = _swap_gap(models.Discriminator(width=1 / 16, projection=True))
  assert abs(gap) > 1e-3 * scale


def test_layer_norm_discriminator_judges_each_image_alone():
  rng = np.random.default_rng(1)
  images = jnp.asarray(rng.uniform(-1, 1, (4, 64, 64, 3)), jnp.float32)
  captions = jnp.asarray(rng.normal(size=(4, E)), jnp.float32)
  for norm, alone in (("layer", True), ("batch", False)):
    d = models.Discriminator(width=1 / 16, norm=norm)
    variables = _init(d, images, captions)
    run = jax.jit(lambda v, x, c, d=d: d.apply(v, x, c, train=True, mutable=["batch_stats"])[0])
    together = run(variables, images, captions)[:2]
    first = run(variables, images[:2], captions[:2])
    assert np.allclose(together, first, atol=1e-5) == alone, norm


def test_width_scales_channels():
  assert models.scaled_channels(models.G_CHANNELS, 0.25) == (128, 64, 32, 16)
  assert models.scaled_channels(models.D_CHANNELS, 1 / 128) == (1, 1, 2, 4)


def test_grouped_batch_norm_equals_separate_calls():
  rng = np.random.default_rng(0)
  a = rng.normal(1.0, 2.0, size=(4, 3, 3, 5)).astype(np.float32)
  b = rng.normal(-1.0, 0.5, size=(4, 3, 3, 5)).astype(np.float32)
  norm = models.GroupedBatchNorm()

  @jax.jit
  def compare():
    variables = norm.init(jax.random.PRNGKey(0), a, train=False)
    y_a, s = norm.apply(variables, a, True, mutable=["batch_stats"])
    y_b, s = norm.apply({**variables, **s}, b, True, mutable=["batch_stats"])
    interleaved = jnp.stack([a, b], axis=1).reshape(8, 3, 3, 5)
    y, grouped_stats = norm.apply(variables, interleaved, True, groups=2,
                                  mutable=["batch_stats"])
    return y_a, y_b, s, y.reshape(4, 2, 3, 3, 5), grouped_stats

  y_a, y_b, separate_stats, y, grouped_stats = compare()
  np.testing.assert_allclose(y[:, 0], y_a, atol=1e-5)
  np.testing.assert_allclose(y[:, 1], y_b, atol=1e-5)
  np.testing.assert_allclose(np.asarray(y_a).mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
  for key in ("mean", "var"):
    np.testing.assert_allclose(grouped_stats["batch_stats"][key],
                               separate_stats["batch_stats"][key], atol=1e-5)


def test_conditioning():
  text = jnp.asarray(np.random.default_rng(0).normal(size=(256, 10)), jnp.float32)
  rngs = {"params": jax.random.PRNGKey(0), "conditioning": jax.random.PRNGKey(1)}

  @jax.jit
  def run():
    noise = models.NoiseConditioning()
    c_hat, noise_kl = noise.apply({}, text, rngs=rngs)
    augmentation = models.ConditioningAugmentation(features=7)
    variables = augmentation.init(rngs, text)
    c_aug, kl = augmentation.apply(variables, text, rngs=rngs)
    return c_hat, noise_kl, c_aug, kl

  c_hat, noise_kl, c_aug, kl = run()
  assert 0.0008 < float(jnp.std(c_hat - text)) < 0.0012  # The paper's 0.001 * N(0, 1).
  assert float(noise_kl) == 0.0
  assert c_aug.shape == (256, 7)
  assert float(kl) > 0.0 and np.isfinite(float(kl))


def test_spectral_discriminator_bounds_its_kernels():
  d = models.Discriminator(width=1 / 16, norm="spectral", joint=True)
  rng = np.random.default_rng(2)
  images = jnp.asarray(rng.uniform(-1, 1, (2, 64, 64, 3)), jnp.float32)
  captions = jnp.asarray(rng.normal(size=(2, E)), jnp.float32)
  variables = _init(d, images, captions)
  assert sorted(variables["batch_stats"]) == [f"convs_{i}" for i in range(4)]

  @jax.jit
  def power_step(params, stats, x, c):
    _, updates = d.apply({"params": params, "batch_stats": stats}, x, c, train=True,
                         mutable=["batch_stats"])
    return updates["batch_stats"]

  stats = variables["batch_stats"]
  for _ in range(20):  # 20 training calls: the stored vectors converge
    stats = power_step(variables["params"], stats, images, captions)
  for i in range(4):
    kernel = np.asarray(variables["params"][f"convs_{i}"]["kernel"])
    matrix = kernel.reshape(-1, kernel.shape[-1])
    u = np.asarray(stats[f"convs_{i}"]["spectral_u"])
    v = matrix @ u / np.linalg.norm(matrix @ u)
    np.testing.assert_allclose(v @ matrix @ u, np.linalg.svd(matrix, compute_uv=False)[0],
                               rtol=0.05)


def test_conditional_batch_norm_starts_as_plain_g_and_steers_every_layer():
  """Zero-initialised gains and biases: a fresh conditional-BN G paints what the plain G with
  the same shared weights paints; once they are non-zero, they change the picture."""
  rngs = {"params": jax.random.PRNGKey(0), "conditioning": jax.random.PRNGKey(1)}
  z = jax.random.normal(jax.random.PRNGKey(2), (B, Z))
  text = jax.random.normal(jax.random.PRNGKey(3), (B, E))
  plain, cbn = models.Generator(width=0.125), models.Generator(width=0.125, conditional_bn=True)
  plain_vars = plain.init(rngs, z, text, train=False)
  cbn_vars = cbn.init(rngs, z, text, train=False)
  extra = set(cbn_vars["params"]) - set(plain_vars["params"])
  assert extra == {"cbn_shared"} | {f"{n}_{k}" for n in ("project_bn", "up1_bn", "up2_bn",
                                                          "up3_bn") for k in ("gain", "bias")}
  shared = dict(cbn_vars["params"], **plain_vars["params"])
  variables = {"params": shared, "batch_stats": plain_vars["batch_stats"]}
  run = lambda module, v, t: module.apply(v, z, t, train=False, rngs=rngs)[0]
  np.testing.assert_allclose(run(cbn, variables, text), run(plain, plain_vars, text), atol=1e-6)
  # A non-zero gain kernel on the last BN (a caption-dependent scale) changes the picture.
  params = dict(shared)
  params["up3_bn_gain"] = {"kernel": jnp.ones_like(shared["up3_bn_gain"]["kernel"]),
                           "bias": shared["up3_bn_gain"]["bias"]}
  moved = run(cbn, {**variables, "params": params}, text)
  assert float(jnp.abs(moved - run(cbn, variables, text)).max()) > 1e-3
