"""The paper's conditional DC-GAN (SPEC section 3): conditioning, generator and discriminator.

Images are NHWC float32 in [-1, 1], 64x64x3. Channel counts are the paper's times ``width``:
G 512 -> 256 -> 128 -> 64 -> 3, D 3 -> 64 -> 128 -> 256 -> 512, both with 4x4 stride-2 layers
(:mod:`v2i_jax.image.layers`), batch norm, ReLU in G / LeakyReLU(0.2) in D and tanh at G's end.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from v2i_jax.image import layers

CONDITIONINGS = ("noise", "augmentation")
# Normalisation in D: the paper's batch norm in the trunk, per-sample layer norm in the trunk,
# spectral normalisation of every 4x4 kernel (Miyato et al.; no batch statistics), or none.
D_NORMS = ("batch", "layer", "spectral", "none")
G_CHANNELS = (512, 256, 128, 64)
D_CHANNELS = (64, 128, 256, 512)
# D's text branch: Linear -> 256 -> LeakyReLU, reshaped to 4x4 maps of 16 channels.
TEXT_FEATURES = 256
TEXT_CHANNELS = TEXT_FEATURES // 16
IMAGE_SIZE = 64
# Width of G's shared caption layer under conditional batch norm (Generator.conditional_bn).
CBN_FEATURES = 128


def scaled_channels(channels: tuple[int, ...], width: float) -> tuple[int, ...]:
  """The paper's channel counts times ``width`` (at least 1 each)."""
  return tuple(max(1, round(c * width)) for c in channels)


def leaky_relu(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, negative_slope=0.2)


class GroupedBatchNorm(nn.Module):
  """Batch norm over a batch that holds ``groups`` batches interleaved on the leading axis.

  Row ``i`` belongs to group ``i % groups``; in training each group is normalised with its own
  statistics, so one call on ``groups`` stacked batches computes exactly what ``groups`` separate
  calls would (and the leading axis stays contiguous per device when it is sharded). The running
  averages take the groups' statistics one after another, as separate calls would. Statistics
  are computed in float32 whatever the compute dtype. Variable names follow ``nn.BatchNorm``.
  """
  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, groups: int = 1) -> jax.Array:
    c = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (c,))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    running_mean = self.variable("batch_stats", "mean", jnp.zeros, (c,), jnp.float32)
    running_var = self.variable("batch_stats", "var", jnp.ones, (c,), jnp.float32)
    if not train:
      inv = jax.lax.rsqrt(running_var.value + self.epsilon) * scale
      return ((x - running_mean.value) * inv + bias).astype(self.dtype)
    grouped = x.astype(jnp.float32).reshape(x.shape[0] // groups, groups, -1, c)
    mean = grouped.mean(axis=(0, 2))
    var = jnp.maximum((grouped * grouped).mean(axis=(0, 2)) - mean * mean, 0.0)
    if not self.is_initializing():
      m, v = running_mean.value, running_var.value
      for g in range(groups):
        m = self.momentum * m + (1.0 - self.momentum) * mean[g]
        v = self.momentum * v + (1.0 - self.momentum) * var[g]
      running_mean.value, running_var.value = m, v
    inv = jax.lax.rsqrt(var + self.epsilon) * scale
    y = (grouped - mean[:, None, :]) * inv[:, None, :] + bias
    return y.reshape(x.shape).astype(self.dtype)


class NoiseConditioning(nn.Module):
  """The paper's c_hat = c + std * N(0, 1) (std 0.001), always on. Uses the 'conditioning' rng."""
  std: float = 0.001

  @nn.compact
  def __call__(self, embedding: jax.Array) -> tuple[jax.Array, jax.Array]:
    noise = jax.random.normal(self.make_rng("conditioning"), embedding.shape, embedding.dtype)
    return embedding + self.std * noise, jnp.zeros((), jnp.float32)


class ConditioningAugmentation(nn.Module):
  """StackGAN's conditioning augmentation: FC + LeakyReLU -> (mu, log sigma^2), c_hat = mu +
  sigma * eps, and the KL(N(mu, sigma^2) || N(0, I)) term (mean over the batch) for G's loss."""
  features: int = 128

  @nn.compact
  def __call__(self, embedding: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = leaky_relu(nn.Dense(2 * self.features, name="fc")(embedding))
    mu, log_var = jnp.split(h.astype(jnp.float32), 2, axis=-1)
    eps = jax.random.normal(self.make_rng("conditioning"), mu.shape)
    kl = 0.5 * jnp.mean(jnp.sum(mu * mu + jnp.exp(log_var) - 1.0 - log_var, axis=-1))
    return mu + jnp.exp(0.5 * log_var) * eps, kl


class Generator(nn.Module):
  """G(z, caption embedding) -> ([B, 64, 64, 3] in [-1, 1], conditioning KL term).

  concat[z; c_hat] -> 512x4x4 -> 256x8x8 -> 128x16x16 -> 64x32x32 -> 3x64x64 (channels times
  ``width``), BN + ReLU between layers, tanh at the end. Needs the 'conditioning' rng.

  ``conditional_bn``: every BN is followed by a per-sample scale and shift computed from the
  caption (conditional batch norm, de Vries et al. 2017; BigGAN's form): a shared Dense +
  ReLU of c_hat (:data:`CBN_FEATURES`), then per layer gain = 1 + Dense(.), bias = Dense(.),
  both zero-initialised, so a fresh G computes what the unconditional-BN one does. The caption
  then steers every layer instead of only the input vector.
  """
  width: float = 1.0
  conditioning: str = "noise"
  noise_std: float = 0.001
  augmentation_features: int = 128
  conditional_bn: bool = False
  fast: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, embedding: jax.Array, train: bool
               ) -> tuple[jax.Array, jax.Array]:
    if self.conditioning == "noise":
      c_hat, kl = NoiseConditioning(self.noise_std, name="conditioning")(embedding)
    elif self.conditioning == "augmentation":
      c_hat, kl = ConditioningAugmentation(self.augmentation_features,
                                           name="conditioning")(embedding)
    else:
      raise ValueError(f"unknown conditioning {self.conditioning!r}; use one of {CONDITIONINGS}.")
    channels = scaled_channels(G_CHANNELS, self.width)
    cond = None
    if self.conditional_bn:
      cond = nn.relu(nn.Dense(CBN_FEATURES, dtype=self.dtype, name="cbn_shared")(c_hat))

    def norm(h, name):
      h = GroupedBatchNorm(dtype=self.dtype, name=name)(h, train)
      if cond is not None:
        c = h.shape[-1]
        zeros = nn.initializers.zeros
        gain = nn.Dense(c, kernel_init=zeros, dtype=self.dtype, name=f"{name}_gain")(cond)
        bias = nn.Dense(c, kernel_init=zeros, dtype=self.dtype, name=f"{name}_bias")(cond)
        h = h * (1.0 + gain[:, None, None, :]) + bias[:, None, None, :]
      return nn.relu(h)

    h = jnp.concatenate([z, c_hat.astype(z.dtype)], axis=-1)
    h = layers.Project4x4(channels[0], self.fast, self.dtype, name="project")(h)
    h = norm(h, "project_bn")
    for i, c in enumerate(channels[1:], start=1):
      h = layers.UpConv(c, self.fast, self.dtype, name=f"up{i}")(h)
      h = norm(h, f"up{i}_bn")
    h = layers.UpConv(3, self.fast, self.dtype, name=f"up{len(channels)}")(h)
    return jnp.tanh(h.astype(jnp.float32)), kl


class Discriminator(nn.Module):
  """D(image, caption embedding) -> one real/fake logit per pair.

  Image trunk 3x64x64 -> 64x32x32 -> 128x16x16 -> 256x8x8 -> 512x4x4 (channels times ``width``;
  LeakyReLU(0.2), ``norm`` on all but the first), text Dense(256) + LeakyReLU reshaped to 16x4x4
  and concatenated on channels, then a 4x4 conv to one logit. :meth:`features` and :meth:`score`
  are the two halves, so one trunk pass can serve several captions (GAN-CLS's real/right and
  real/wrong pairs share the real images' features).

  The paper's D (``norm="batch"``, ``joint=False``) has two flaws this module can fix:
  - its 4x4 head is linear in the concatenation, so the logit is f(image) + g(caption) and D
    cannot tell a matching caption from a wrong one (the GAN-CLS term carries no signal);
    ``joint=True`` adds Reed et al.'s 1x1 conv + LeakyReLU over the concatenation first;
  - batch norm over all-real or all-fake batches lets D judge batch statistics instead of
    images, and G answers by ignoring z; ``norm="layer"`` normalises each sample on its own, but
    it (like batch norm over a batch of near-identical fakes) blows G's early near-constant
    images up to unit variance, and G learns very slowly; ``norm="spectral"`` bounds D's
    kernels instead and keeps every image's own scale (measured: backgrounds and shapes within
    ~200 steps at quarter width, against >2,500 with batch or layer norm).
  """
  width: float = 1.0
  norm: str = "batch"
  joint: bool = False
  # > 0: an auxiliary classifier head (Odena et al.'s AC-GAN) on the trunk features, with this
  # many class logits (:meth:`classify`); 0: none (the paper).
  num_classes: int = 0
  # Miyato & Koyama's projection term: logit += <V e, sum of the trunk features over space>,
  # an inner product between caption and image that directly scores matching.
  projection: bool = False
  fast: bool = True
  dtype: Any = jnp.float32

  def setup(self):
    if self.norm not in D_NORMS:
      raise ValueError(f"unknown discriminator norm {self.norm!r}; use one of {D_NORMS}.")
    channels = scaled_channels(D_CHANNELS, self.width)
    spectral = self.norm == "spectral"
    self.convs = [layers.DownConv(c, self.fast, self.dtype, spectral=spectral) for c in channels]
    if self.norm == "batch":
      self.norms = [GroupedBatchNorm(dtype=self.dtype) for _ in channels[1:]]
    elif self.norm == "layer":
      self.norms = [nn.LayerNorm(reduction_axes=(-3, -2, -1), dtype=self.dtype)
                    for _ in channels[1:]]
    self.text = nn.Dense(TEXT_FEATURES, dtype=self.dtype)
    if self.joint:
      self.joint_conv = nn.Conv(channels[-1], (1, 1), use_bias=False, dtype=self.dtype)
    self.head = layers.Head4x4(1, self.fast, self.dtype, spectral=spectral)
    if self.num_classes:
      self.classifier = nn.Dense(self.num_classes, dtype=self.dtype)
    if self.projection:
      self.text_projection = nn.Dense(channels[-1], use_bias=False, dtype=self.dtype)

  def _normalise(self, i: int, h: jax.Array, train: bool, groups: int) -> jax.Array:
    if self.norm == "batch":
      return self.norms[i](h, train, groups)
    if self.norm == "layer":
      return self.norms[i](h)
    return h

  def features(self, images: jax.Array, train: bool, groups: int = 1) -> jax.Array:
    """[N, 64, 64, 3] -> [N, 4, 4, C]; ``groups`` interleaved batches get their own BN stats."""
    h = leaky_relu(self.convs[0](images))
    for i, conv in enumerate(self.convs[1:]):
      h = leaky_relu(self._normalise(i, conv(h), train, groups))
    return h

  def score(self, features: jax.Array, embeddings: jax.Array) -> jax.Array:
    """Trunk features [N, 4, 4, C] and caption embeddings [N, E] -> logits [N] (float32)."""
    text = leaky_relu(self.text(embeddings)).reshape(-1, 4, 4, TEXT_CHANNELS)
    h = jnp.concatenate([features, text.astype(features.dtype)], axis=-1)
    if self.joint:
      h = leaky_relu(self.joint_conv(h))
    logits = self.head(h)[:, 0].astype(jnp.float32)
    if self.projection:
      pooled = features.astype(jnp.float32).sum(axis=(1, 2))
      logits = logits + jnp.sum(pooled * self.text_projection(embeddings).astype(jnp.float32), -1)
    return logits

  def classify(self, features: jax.Array) -> jax.Array:
    """Trunk features [N, 4, 4, C] -> class logits [N, num_classes] (float32); the image alone."""
    if not self.num_classes:
      raise ValueError("this discriminator has no classifier head (num_classes=0).")
    return self.classifier(features.reshape(features.shape[0], -1)).astype(jnp.float32)

  def __call__(self, images: jax.Array, embeddings: jax.Array, train: bool) -> jax.Array:
    h = self.features(images, train)
    if self.num_classes and self.is_initializing():  # Create the classifier's parameters too.
      self.classify(h)
    return self.score(h, embeddings)
