"""The fast stride-1 GAN layers compute the same function as flax's plain convolutions.

Tolerance: float32, |fast - flax| <= 1e-5 * (1 + |flax|) on outputs and on gradients with respect
to both the input and the kernel (the rewrites only reorder the sums).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from v2i_jax.image import layers

RTOL = ATOL = 1e-5

# (our layer, the flax layer it must equal, input shape)
CASES = {
    "down": (layers.DownConv,
             lambda o: nn.Conv(o, (4, 4), strides=2, padding=((1, 1), (1, 1)), use_bias=False),
             (3, 8, 6, 5)),
    "up": (layers.UpConv,
           lambda o: nn.ConvTranspose(o, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)),
                                      use_bias=False),
           (3, 4, 6, 5)),
    "project": (layers.Project4x4,
                lambda o: nn.ConvTranspose(o, (4, 4), padding="VALID", use_bias=False),
                (3, 5)),
    "head": (layers.Head4x4,
             lambda o: nn.Conv(o, (4, 4), padding="VALID", use_bias=False),
             (3, 4, 4, 5)),
}


def _flax_reference(name, features, kernel, x):
  _, make_flax, _ = CASES[name]
  if name == "project":
    return make_flax(features).apply({"params": {"kernel": kernel}}, x[:, None, None, :])
  y = make_flax(features).apply({"params": {"kernel": kernel}}, x)
  return y[:, 0, 0, :] if name == "head" else y


@pytest.mark.parametrize("name,features", [(name, 7) for name in sorted(CASES)] + [
    ("up", 3)])  # 3 < SUBPIXEL_3X3_BELOW: the RGB layer's one-conv form.
def test_fast_layer_matches_flax_outputs_and_gradients(name, features):
  layer_cls, _, shape = CASES[name]
  assert (features < layers.SUBPIXEL_3X3_BELOW) == (features == 3)
  rng = np.random.default_rng(1)
  x = rng.normal(size=shape).astype(np.float32)
  layer = layer_cls(features, fast=True)
  kernel_shape = jax.eval_shape(layer.init, jax.random.PRNGKey(0), x)["params"]["kernel"].shape
  assert kernel_shape == (4, 4, shape[-1], features)  # The standard 4x4 layout.
  kernel = rng.normal(scale=0.1, size=kernel_shape).astype(np.float32)

  @jax.jit
  def outputs_and_gradients(kernel, x):
    """Ours and flax's outputs, and the gradients of a random projection of each."""
    ours = lambda k, x: layer.apply({"params": {"kernel": k}}, x)
    reference = lambda k, x: _flax_reference(name, features, k, x)
    want = reference(kernel, x)
    cotangent = jnp.cos(jnp.arange(want.size, dtype=jnp.float32)).reshape(want.shape)
    project = lambda f: lambda k, x: jnp.sum(f(k, x) * cotangent)
    return (ours(kernel, x), want, jax.grad(project(ours), argnums=(0, 1))(kernel, x),
            jax.grad(project(reference), argnums=(0, 1))(kernel, x))

  got, want, got_grads, want_grads = outputs_and_gradients(kernel, x)
  np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
  for got_grad, want_grad in zip(got_grads, want_grads):
    assert np.abs(np.asarray(want_grad)).max() > 0
    np.testing.assert_allclose(got_grad, want_grad, rtol=RTOL, atol=ATOL)


def test_fast_and_plain_share_parameters():
  # The plain forms are the very lax calls flax makes; what must hold is that both store the same.
  x = jnp.ones((2, 8, 8, 3))
  for layer_cls in (layers.DownConv, layers.UpConv):
    shapes = lambda fast: jax.tree_util.tree_map(
        jnp.shape, jax.eval_shape(layer_cls(4, fast=fast).init, jax.random.PRNGKey(0), x))
    assert shapes(True) == shapes(False)


def test_with_fast_cpu_flag_appends_once():
  flags = layers.with_fast_cpu_flag("--xla_force_host_platform_device_count=2")
  assert flags.split() == ["--xla_force_host_platform_device_count=2", layers.FAST_CPU_XLA_FLAG]
  assert layers.with_fast_cpu_flag(flags) == flags
  assert layers.with_fast_cpu_flag("") == layers.FAST_CPU_XLA_FLAG
