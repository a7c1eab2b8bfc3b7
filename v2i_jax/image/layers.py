"""The GAN's 4x4 convolutions, in the plain form and in an exact stride-1 form that runs faster.

The paper's layers are kernel 4, stride 2, padding 1 convolutions (D) and transposed convolutions
(G). On XLA:CPU a stride-2 convolution's input gradient and a stride-2 transposed convolution
become dilated-input convolutions, which the fast conv library refuses, so they fall back to a
slow path (see PERF_NOTES.md). The ``fast=True`` forms compute the same functions as stride-1
work:

- stride-2 conv = pad 1 + space-to-depth by 2 + 2x2 VALID conv with the kernel rearranged;
- stride-2 transposed conv = one 2x2 stride-1 conv per output phase (sub-pixel: together a 2x2
  conv to 4x the channels) + depth-to-space; for the few-channel RGB layer, one 3x3 SAME conv
  to 4x the channels (the four phases' taps in one window) + depth-to-space;
- G's 1x1 -> 4x4 projection = a matrix product; D's 4x4 -> 1x1 head = a matrix product.

Every layer stores one ``kernel`` of shape ``[4, 4, in, out]`` in the layout ``nn.Conv`` /
``nn.ConvTranspose`` use, whichever form runs, so checkpoints do not depend on the choice.
No layer has a bias (batch norm follows each one, or tanh / the logit at the end).
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

# Radford et al. (DC-GAN): all conv weights drawn from N(0, 0.02).
DCGAN_INIT = nn.initializers.normal(stddev=0.02)

# XLA:CPU flag that sends the stride-1 convolutions to the Eigen path (about 1.6x on the GAN step,
# PERF_NOTES.md; 2.2x on the speech embedding's small convs). It is read when JAX starts its backend, so scripts add it before any JAX work.
FAST_CPU_XLA_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
# UpConv layers with fewer output channels than this run as one 3x3 conv to 4x the channels.
SUBPIXEL_3X3_BELOW = 4


def with_fast_cpu_flag(xla_flags: str) -> str:
  """``xla_flags`` with :data:`FAST_CPU_XLA_FLAG` appended once (for ``os.environ['XLA_FLAGS']``)."""
  if FAST_CPU_XLA_FLAG in xla_flags.split():
    return xla_flags
  return f"{xla_flags} {FAST_CPU_XLA_FLAG}".strip()


def _space_to_depth(x: jax.Array) -> jax.Array:
  """[B, 2H, 2W, C] -> [B, H, W, 4C], channels ordered (row phase, column phase, C)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h // 2, w // 2, 4 * c)


def _subpixel_3x3(kernel: jax.Array) -> jax.Array:
  """UpConv's [4, 4, I, O] kernel -> [3, 3, I, 4O]: a 3x3 SAME conv whose output channels
  (a, b, O) are the output phases (2r + a, 2s + b). Phase a reads padded rows r + a + p
  (p = 0, 1) through tap a + 2p, so window row d holds tap a + 2(d - a) for d - a in {0, 1}."""
  _, _, i, o = kernel.shape
  zero = jnp.zeros((i, o), kernel.dtype)
  tap = lambda d, a: a + 2 * (d - a) if d - a in (0, 1) else None
  return jnp.stack([jnp.stack([jnp.concatenate([
      zero if tap(dr, a) is None or tap(dc, c) is None else kernel[tap(dr, a), tap(dc, c)]
      for a in (0, 1) for c in (0, 1)], axis=-1) for dc in range(3)]) for dr in range(3)])


def _phase_split(kernel: jax.Array) -> jax.Array:
  """[4, 4, I, O] -> [p, q, a, b, I, O] with kernel tap (2p + a, 2q + b)."""
  _, _, i, o = kernel.shape
  return kernel.reshape(2, 2, 2, 2, i, o).transpose(0, 2, 1, 3, 4, 5)


class _Kernel4x4(nn.Module):
  """Shared fields: output channels, which form runs, compute dtype, initialiser."""
  features: int
  fast: bool = True
  dtype: Any = jnp.float32
  kernel_init: Callable[..., jax.Array] = DCGAN_INIT
  # Spectral normalisation (Miyato et al.): the kernel, as a [16 * in, out] matrix, divided by
  # its largest singular value, estimated by one power-iteration step per call whose vector is
  # kept in the "batch_stats" collection (updated whenever that collection is mutable).
  spectral: bool = False

  def _kernel(self, in_features: int) -> jax.Array:
    kernel = self.param("kernel", self.kernel_init, (4, 4, in_features, self.features))
    if self.spectral:
      kernel = self._spectral_normalise(kernel)
    return kernel.astype(self.dtype)

  def _spectral_normalise(self, kernel: jax.Array) -> jax.Array:
    matrix = kernel.reshape(-1, self.features)
    if self.features == 1:  # One output: the largest singular value is the column's norm.
      return kernel * jax.lax.rsqrt(jnp.sum(matrix * matrix) + 1e-12)
    u_var = self.variable("batch_stats", "spectral_u",
                          lambda: jnp.full((self.features,), self.features ** -0.5, jnp.float32))
    normalise = lambda x: x * jax.lax.rsqrt(jnp.sum(x * x) + 1e-12)
    u = u_var.value
    v = normalise(matrix @ u)
    u = jax.lax.stop_gradient(normalise(matrix.T @ v))
    v = jax.lax.stop_gradient(v)
    if self.is_mutable_collection("batch_stats") and not self.is_initializing():
      u_var.value = u
    sigma = v @ matrix @ u
    return kernel / sigma


class DownConv(_Kernel4x4):
  """``nn.Conv(features, (4, 4), strides=2, padding=1, use_bias=False)``: [B,2H,2W,I] -> [B,H,W,O]."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self._kernel(x.shape[-1])
    x = x.astype(self.dtype)
    if not self.fast:
      return jax.lax.conv_general_dilated(
          x, kernel, (2, 2), ((1, 1), (1, 1)), dimension_numbers=_DIMENSIONS)
    # out[y] = sum_{p,a} xpad[2(y+p) + a] k[2p + a]: a 2x2 conv over the space-to-depth input.
    i, o = kernel.shape[2:]
    phase_kernel = _phase_split(kernel).reshape(2, 2, 4 * i, o)
    x = _space_to_depth(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
    return jax.lax.conv_general_dilated(x, phase_kernel, (1, 1), "VALID",
                                        dimension_numbers=_DIMENSIONS)


class UpConv(_Kernel4x4):
  """``nn.ConvTranspose(features, (4, 4), strides=2, padding=2, use_bias=False)`` (PyTorch's
  ``ConvTranspose2d(k=4, s=2, p=1)`` up to the kernel flip): [B,H,W,I] -> [B,2H,2W,O]."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self._kernel(x.shape[-1])
    x = x.astype(self.dtype)
    if not self.fast:
      return jax.lax.conv_transpose(
          x, kernel, (2, 2), ((2, 2), (2, 2)), dimension_numbers=_DIMENSIONS)
    # Output row 2r + a only sees input rows r - 1 + a and r + a, through taps a and a + 2: each
    # output phase (a, b) is a 2x2 stride-1 conv with the taps k[a::2, b::2] and padding
    # ((1 - a, a), (1 - b, b)); the four phases are interleaved (depth-to-space). Four convs
    # rather than one 2x2 conv to 4x the channels: that one would need a (H+1)x(W+1) output,
    # larger than its input, which XLA:CPU's fast conv path refuses (40x slower, at 4x4x512).
    b, h, w, _ = x.shape
    if self.features < SUBPIXEL_3X3_BELOW:
      # Few outputs (G's RGB layer): four convs with 3 outputs each keep the cores idle, so
      # one 3x3 SAME conv to 4x the channels instead (the phases' 2x2 taps placed in a 3x3
      # window, the other taps zero: 2.25x the multiply-adds, measured 1.6-2x faster).
      y = jax.lax.conv_general_dilated(x, _subpixel_3x3(kernel), (1, 1), ((1, 1), (1, 1)),
                                       dimension_numbers=_DIMENSIONS)
      y = y.reshape(b, h, w, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5)
      return y.reshape(b, 2 * h, 2 * w, self.features)
    rows = [jnp.stack([jax.lax.conv_general_dilated(
        x, kernel[a::2, c::2], (1, 1), ((1 - a, a), (1 - c, c)), dimension_numbers=_DIMENSIONS)
                       for c in (0, 1)], axis=3) for a in (0, 1)]
    return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, self.features)


class Project4x4(_Kernel4x4):
  """G's first layer, ``nn.ConvTranspose(features, (4, 4), padding='VALID')`` on a 1x1 map:
  [B, I] -> [B, 4, 4, O]."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self._kernel(x.shape[-1])
    x = x.astype(self.dtype)
    if not self.fast:
      return jax.lax.conv_transpose(
          x[:, None, None, :], kernel, (1, 1), "VALID", dimension_numbers=_DIMENSIONS)
    # A VALID transposed conv on one pixel paints the kernel flipped in both spatial axes.
    return jnp.einsum("bi,hwio->bhwo", x, kernel[::-1, ::-1])


class Head4x4(_Kernel4x4):
  """D's last layer, ``nn.Conv(features, (4, 4), padding='VALID')`` on a 4x4 map:
  [B, 4, 4, I] -> [B, O]."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self._kernel(x.shape[-1])
    x = x.astype(self.dtype)
    if not self.fast:
      y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=_DIMENSIONS)
      return y[:, 0, 0, :]
    return jnp.einsum("bhwi,hwio->bo", x, kernel)
