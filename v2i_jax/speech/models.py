"""Keyword classifiers over MFCC features ``[batch, frames, coefficients]`` -> logits.

* :class:`MLP` is the paper's k-layer network: dense layers with batch norm after every hidden
  layer, ReLU, weights from ``N(0, 1/sqrt(fan_in))`` and zero biases.
* :class:`DSCNN` is a compact depthwise-separable CNN keyword spotter after Zhang et al. (2017),
  "Hello Edge": one ordinary convolution, then blocks of depthwise 3x3 + pointwise 1x1 convolutions,
  global average pooling and one dense layer. It sees the MFCCs as an image, so it is invariant to
  where in the second the word is spoken, which a flat MLP is not.

Both take ``train`` to switch batch norm between batch statistics (training) and the running
averages (evaluation) - the paper's code used batch statistics at test time, one of its bugs.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

# The paper's init: std 1/sqrt(fan_in), not truncated.
paper_kernel_init = nn.initializers.variance_scaling(1.0, "fan_in", "normal")

BATCH_NORM_MOMENTUM = 0.9


class MLP(nn.Module):
  """Flatten, then ``len(hidden_sizes)`` x [Dense, BatchNorm, ReLU, Dropout], then Dense."""
  hidden_sizes: Sequence[int]
  num_classes: int
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, features: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    x = features.reshape((features.shape[0], -1))
    for width in self.hidden_sizes:
      x = nn.Dense(width, kernel_init=paper_kernel_init)(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM)(x)
      x = nn.relu(x)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, kernel_init=paper_kernel_init)(x)


class DSCNN(nn.Module):
  """Conv (kernel ``first_kernel``, stride ``first_stride``) + BN + ReLU, ``num_blocks`` x
  [depthwise 3x3 + BN + ReLU + pointwise 1x1 + BN + ReLU], global average pool, Dense."""
  num_classes: int
  channels: int = 64
  num_blocks: int = 4
  first_kernel: Sequence[int] = (10, 4)
  first_stride: Sequence[int] = (2, 2)
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, features: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM)
    x = features[..., None]  # [batch, frames, coefficients, 1]: MFCCs as a one-channel image
    x = nn.Conv(self.channels, tuple(self.first_kernel), strides=tuple(self.first_stride),
                use_bias=False)(x)
    x = nn.relu(norm()(x))
    for _ in range(self.num_blocks):
      x = nn.Conv(self.channels, (3, 3), feature_group_count=self.channels, use_bias=False)(x)
      x = nn.relu(norm()(x))
      x = nn.Conv(self.channels, (1, 1), use_bias=False)(x)
      x = nn.relu(norm()(x))
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)


class TemporalCNN(nn.Module):
  """For a sequence of frame vectors (the speech embedding's windows): ``len(widths)`` x
  [Conv1D over time (kernel ``kernel``, SAME) + BN + ReLU], then the max and the mean over time
  concatenated, Dropout, Dense. Where in the clip the word sits matters less than to a flat MLP."""
  num_classes: int
  widths: Sequence[int] = (128, 128)
  kernel: int = 3
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, features: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    x = features  # [batch, time, dims]
    for width in self.widths:
      x = nn.Conv(width, (self.kernel,), use_bias=False)(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM)(x)
      x = nn.relu(x)
    x = jnp.concatenate([x.max(axis=1), x.mean(axis=1)], axis=-1)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes)(x)


class Ensemble(nn.Module):
  """Copies of one classifier, each initialised (and dropped out) on its own.

  With ``train`` it returns every copy's logits, ``[len(members), batch, classes]``, so that each
  learns from its own loss; otherwise the log of their mean probabilities, ``[batch, classes]``
  (softmax of it is the mean), so evaluation and the recogniser see one classifier."""
  members: Sequence[nn.Module]

  def __call__(self, features: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    logits = jnp.stack([member(features, train) for member in self.members])
    if train:
      return logits
    return nn.logsumexp(nn.log_softmax(logits, axis=-1), axis=0) - jnp.log(len(self.members))


MODELS = ("mlp", "cnn", "temporal_cnn")


def build_model(model_config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  """The classifier ``model_config.name`` describes (``config.model`` of a kws config); with
  ``model_config.ensemble`` > 1, an :class:`Ensemble` of that many."""
  size = model_config.get("ensemble", 1)
  if not isinstance(size, int) or isinstance(size, bool) or size < 1:
    raise ValueError(f"config.model.ensemble={size!r} must be a whole number >= 1 (1: one model).")
  if size > 1:
    single = ml_collections.ConfigDict(model_config.to_dict())
    single.ensemble = 1
    return Ensemble(members=tuple(build_model(single, num_classes) for _ in range(size)))
  if model_config.name == "mlp":
    return MLP(hidden_sizes=tuple(model_config.hidden_sizes), num_classes=num_classes,
               dropout_rate=model_config.get("dropout_rate", 0.0))
  if model_config.name == "cnn":
    return DSCNN(num_classes=num_classes, channels=model_config.channels,
                 num_blocks=model_config.num_blocks,
                 first_kernel=tuple(model_config.first_kernel),
                 first_stride=tuple(model_config.first_stride),
                 dropout_rate=model_config.get("dropout_rate", 0.0))
  if model_config.name == "temporal_cnn":
    return TemporalCNN(num_classes=num_classes, widths=tuple(model_config.widths),
                       kernel=model_config.kernel,
                       dropout_rate=model_config.get("dropout_rate", 0.0))
  raise ValueError(f"unknown model {model_config.name!r}; set config.model.name to one of "
                   f"{MODELS}.")
