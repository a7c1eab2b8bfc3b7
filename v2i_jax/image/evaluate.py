"""GAN evaluation with numbers: a "judge" classifier, conditional accuracy and a feature FID.

The judge is a small CNN trained on the real keyword images of the emoji set (all artwork
styles, all splits, heavily augmented) over the 35 keyword classes plus, by default, an "other"
class of every non-keyword emoji. Two numbers come from it:

* conditional accuracy: the share of images generated from a keyword caption ("cat", "five")
  that the judge labels as that keyword (an argmax over all its classes, "other" included);
* feature FID: the Frechet distance between Gaussians fitted to the judge's penultimate features
  of generated and of real keyword images.

The feature FID is NOT comparable to the Inception FID of papers (that needs Inception weights,
which cannot be downloaded here) and, with a few hundred images, it carries a sizeable
small-sample bias. Compare it only between runs scored by the same judge with the same counts,
and against the real-image ceiling: the FID between two class-stratified halves of the real
keyword images, and the judge's accuracy on the real images (its training images, so near 1;
:func:`cross_style_accuracy` measures how it does on an artwork style it never saw).

A trained judge is cached under ``config.cache_dir`` in a folder named by a fingerprint of the
emoji set and the judge settings, saved with the project's :class:`Checkpointer`, next to the
real keyword images it was trained on (so scoring a GAN does not read the whole data set again).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
import warnings
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import scipy.linalg

from v2i_jax.image import augment as augment_lib
from v2i_jax.image import data as data_lib
from v2i_jax.image import metrics as metrics_lib
from v2i_jax.image.data import KEYWORDS
from v2i_jax.training import checkpoint as checkpoint_lib
from v2i_jax.training import loop as loop_lib
from v2i_jax.training import mesh as mesh_lib

logger = logging.getLogger(__name__)

OTHER = len(KEYWORDS)  # The judge's class id for "not a keyword".
# Bump when the judge's model or training changes, so cached judges are retrained.
JUDGE_VERSION = "2"
_EVAL_CHUNK = 256

# generate_fn(captions, n_per_caption, seed) -> uint8 [len(captions) * n_per_caption, H, W, 3],
# caption-major: rows i * n .. (i + 1) * n - 1 are the images of captions[i].
GenerateFn = Callable[[Sequence[str], int, int], np.ndarray]


class JudgeError(ValueError):
  """Images or settings the judge cannot use; the message says what to pass instead."""


# ------------------------------------------------------------------------------------------------
# The model.


def _max_pool2(x: jax.Array) -> jax.Array:
  """2x2 max pooling as a reshape (its gradient is much cheaper on CPU than reduce_window's)."""
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class JudgeNet(nn.Module):
  """Small CNN: [B, H, W, 3] in [-1, 1] -> (logits [B, classes], features [B, features]).

  Images larger than ``input_size`` are box-averaged down to it first: emoji stay recognisable
  at 32x32, at a quarter of the cost."""
  num_classes: int
  input_size: int = 32
  channels: tuple[int, ...] = (32, 64, 128)
  features: int = 128

  @nn.compact
  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = augment_lib.box_downsample(images, self.input_size)
    for width in self.channels:
      # No normalisation layer: GroupNorm tripled the train step's time on this CPU.
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      x = _max_pool2(x)
    x = x.mean(axis=(1, 2))
    features = nn.relu(nn.Dense(self.features)(x))
    return nn.Dense(self.num_classes)(features), features


def num_classes(config: ml_collections.ConfigDict) -> int:
  return len(KEYWORDS) + (1 if config.other_class else 0)


def make_model(config: ml_collections.ConfigDict) -> JudgeNet:
  return JudgeNet(num_classes=num_classes(config), input_size=config.input_size,
                  channels=tuple(config.channels), features=config.features)


@dataclasses.dataclass(frozen=True)
class Judge:
  """A trained judge: the module, its parameters and the settings it was trained with."""
  model: JudgeNet
  params: Any
  config: ml_collections.ConfigDict
  # A keyword verdict needs at least this probability, else the image counts as "other"
  # (:func:`calibrate_threshold`); 0 = plain argmax.
  threshold: float = 0.0


def _to_unit_range(images: jax.Array) -> jax.Array:
  return images.astype(jnp.float32) / 127.5 - 1.0


_apply = jax.jit(lambda model, params, images: model.apply({"params": params},
                                                            _to_unit_range(images)),
                 static_argnums=0)


def _check_images(images: np.ndarray) -> np.ndarray:
  images = np.asarray(images)
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (64, 64, 3):
    raise JudgeError(f"the judge scores uint8 [N, 64, 64, 3] images; got {images.dtype} "
                     f"{images.shape}.")
  return images


def _padded_chunks(images: np.ndarray):
  """Yields (chunk of :data:`_EVAL_CHUNK` images, zero-padded at the end, its real count): a fixed
  chunk shape keeps the judge to one compilation."""
  for start in range(0, len(images), _EVAL_CHUNK):
    chunk = images[start:start + _EVAL_CHUNK]
    yield np.concatenate([chunk, np.zeros((_EVAL_CHUNK - len(chunk),) + chunk.shape[1:],
                                          chunk.dtype)]), len(chunk)


def _softmax(logits: np.ndarray) -> np.ndarray:
  logits = np.asarray(logits, np.float64)
  probs = np.exp(logits - logits.max(axis=1, keepdims=True))
  return probs / probs.sum(axis=1, keepdims=True)


def judge_outputs(judge: Judge, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(logits [N, classes], penultimate features [N, features]) of uint8 [N, 64, 64, 3] images."""
  logits, features = [], []
  for padded, count in _padded_chunks(_check_images(images)):
    out_logits, out_features = _apply(judge.model, judge.params, padded)
    logits.append(np.asarray(out_logits)[:count])
    features.append(np.asarray(out_features)[:count])
  return np.concatenate(logits), np.concatenate(features)


def judge_features(judge: Judge, images: np.ndarray) -> np.ndarray:
  """The judge's penultimate features (what the feature FID uses): float32 [N, features]."""
  return judge_outputs(judge, images)[1]


def strict_predictions(logits: np.ndarray, threshold: float) -> np.ndarray:
  """Argmax of ``logits`` [N, classes], with a keyword verdict whose softmax probability is
  under ``threshold`` turned into :data:`OTHER` ("none of these")."""
  probs = _softmax(logits)
  predictions = probs.argmax(axis=1)
  unsure = (predictions < len(KEYWORDS)) & (probs.max(axis=1) < threshold)
  return np.where(unsure, OTHER, predictions)


def judge_predictions(judge: Judge, images: np.ndarray, strict: bool = True) -> np.ndarray:
  """The judge's class per image: int [N] (keyword ids 0..34, :data:`OTHER` for other); strict:
  a keyword it is less sure of than its calibrated threshold counts as other."""
  logits = judge_outputs(judge, images)[0]
  return strict_predictions(logits, judge.threshold if strict else 0.0)


# ------------------------------------------------------------------------------------------------
# Numbers.


def accuracy_by_class(predictions: np.ndarray, labels: np.ndarray
                      ) -> tuple[float, dict[int, float]]:
  """(share of predictions equal to their label, {label: that share among its images})."""
  predictions, labels = np.asarray(predictions), np.asarray(labels)
  if predictions.shape != labels.shape or predictions.ndim != 1 or predictions.size == 0:
    raise JudgeError(f"need one prediction per label; got shapes {predictions.shape} and "
                     f"{labels.shape}.")
  correct = predictions == labels
  per_class = {int(c): float(correct[labels == c].mean()) for c in np.unique(labels)}
  return float(correct.mean()), per_class


def conditional_accuracy(judge: Judge, images: np.ndarray, labels: np.ndarray
                         ) -> tuple[float, dict[int, float]]:
  """How often the judge labels ``images`` as their keyword ``labels`` (overall, per keyword)."""
  return accuracy_by_class(judge_predictions(judge, images), labels)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
  """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians.

  With few samples the covariances are singular and sqrtm can come back non-finite or with
  imaginary parts from round-off; as in the reference FID code, a small ridge is then added,
  and the (tiny) imaginary part of the trace is dropped.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  with warnings.catch_warnings():
    # Singular products are the normal case here (fewer images than features); see above.
    warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
      ridge = 1e-6 * np.eye(len(mu1))
      covmean = scipy.linalg.sqrtm((sigma1 + ridge) @ (sigma2 + ridge))
  trace_covmean = np.trace(covmean)
  if abs(np.imag(trace_covmean)) > 1e-3 * max(1.0, abs(np.real(trace_covmean))):
    logger.warning("sqrtm left an imaginary trace of %.3g; using the real part.",
                   np.imag(trace_covmean))
  diff = mu1 - mu2
  distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.real(trace_covmean)
  return float(max(distance, 0.0))


def feature_fid(real_features: np.ndarray, fake_features: np.ndarray) -> float:
  """The Frechet distance between Gaussians fitted to two feature sets ``[N, D]``, ``[M, D]``."""
  real_features, fake_features = np.asarray(real_features), np.asarray(fake_features)
  if real_features.ndim != 2 or fake_features.ndim != 2 \
      or real_features.shape[1] != fake_features.shape[1]:
    raise JudgeError(f"feature sets must be [N, D] with the same D; got {real_features.shape} "
                     f"and {fake_features.shape}.")
  if min(len(real_features), len(fake_features)) < 2:
    raise JudgeError("a feature FID needs at least 2 images on each side.")
  return frechet_distance(real_features.mean(0), np.cov(real_features, rowvar=False),
                          fake_features.mean(0), np.cov(fake_features, rowvar=False))


def stratified_halves(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Two index sets that split every class's images in half (seeded)."""
  rng = np.random.default_rng(seed)
  first, second = [], []
  for c in np.unique(labels):
    members = rng.permutation(np.flatnonzero(labels == c))
    first.extend(members[0::2])
    second.extend(members[1::2])
  return np.sort(first), np.sort(second)


# ------------------------------------------------------------------------------------------------
# Training.


def _bilinear_sample(images: jax.Array, coords: jax.Array) -> jax.Array:
  """[B, H, W, C] sampled at float (row, col) ``coords`` [B, P, 2] -> [B, P, C]; outside is white.

  Four gathers on the flattened image: compiles in a fraction of the time of a vmapped
  ``jax.scipy.ndimage.map_coordinates``."""
  b, h, w, c = images.shape
  flat = images.reshape(b, h * w, c)
  top_left = jnp.floor(coords)
  frac = coords - top_left
  top_left = top_left.astype(jnp.int32)
  out = 0.0
  for dy in (0, 1):
    for dx in (0, 1):
      row, col = top_left[..., 0] + dy, top_left[..., 1] + dx
      inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
      index = jnp.clip(row, 0, h - 1) * w + jnp.clip(col, 0, w - 1)
      tap = jnp.take_along_axis(flat, index[..., None], axis=1)
      weight_y = frac[..., 0] if dy else 1 - frac[..., 0]
      weight_x = frac[..., 1] if dx else 1 - frac[..., 1]
      weight = weight_y * weight_x
      out = out + weight[..., None] * jnp.where(inside[..., None], tap, 1.0)
  return out


def draw_augmentation(rng: np.random.Generator, batch: int, size: int,
                      settings: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """One batch's random augmentation parameters, drawn on the host.

  Drawn with numpy rather than jax.random: on this CPU, compiling the jax.random draws took
  longer than the whole rest of the train step."""
  uniform = lambda low, high, shape=(batch,): rng.uniform(low, high, shape).astype(np.float32)
  low, high = settings.scale_range
  return {
      "angle": np.deg2rad(uniform(-settings.max_rotation_degrees, settings.max_rotation_degrees)),
      "scale": np.exp(uniform(np.log(low), np.log(high))),
      "shift": uniform(-settings.max_shift, settings.max_shift, (batch, 2)) * size,
      "saturation": uniform(1 - settings.saturation, 1 + settings.saturation),
      "contrast": uniform(1 - settings.contrast, 1 + settings.contrast),
      "brightness": uniform(-settings.brightness, settings.brightness),
      "blur": uniform(0.0, settings.max_blur),
      "noise": (uniform(0.0, settings.max_noise)[:, None, None, None]
                * rng.standard_normal((batch, size, size, 3), np.float32)),
  }


def augment(images: jax.Array, draws: dict[str, jax.Array]) -> jax.Array:
  """Rotation, scale, shift (white fill), saturation, contrast, brightness, blur and noise with
  the per-image parameters of :func:`draw_augmentation`: float [B, S, S, 3] in [-1, 1] -> same."""
  b, h, w, _ = images.shape
  # Output pixel p samples the input at centre + R(-angle) (p - centre - shift) / scale.
  centre = jnp.array([(h - 1) / 2, (w - 1) / 2])
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij"), -1).reshape(-1, 2)
  cos, sin = jnp.cos(draws["angle"]), jnp.sin(draws["angle"])
  rotation = jnp.stack([jnp.stack([cos, sin], -1), jnp.stack([-sin, cos], -1)], -2)  # [B, 2, 2]
  offsets = (grid[None] - centre - draws["shift"][:, None]) / draws["scale"][:, None, None]
  coords = centre + jnp.einsum("bij,bpj->bpi", rotation, offsets)  # [B, H*W, 2]
  x = _bilinear_sample(images, coords).reshape(images.shape)

  per_image = lambda v: v[:, None, None, None]
  gray = x.mean(axis=3, keepdims=True)
  x = gray + (x - gray) * per_image(draws["saturation"])
  mean = x.mean(axis=(1, 2, 3), keepdims=True)
  x = mean + (x - mean) * per_image(draws["contrast"]) + per_image(draws["brightness"])
  blurred = x
  for _ in range(2):
    padded = jnp.pad(blurred, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    blurred = jax.lax.reduce_window(padded, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1),
                                    "VALID") / 9.0
  blur = per_image(draws["blur"])
  x = (1 - blur) * x + blur * blurred + draws["noise"]
  return jnp.clip(x, -1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class JudgeData:
  """What the judge learns from: the real keyword images and (optionally) the other emoji."""
  keyword_images: np.ndarray  # uint8 [K, 64, 64, 3]
  keyword_labels: np.ndarray  # int32 [K], 0..34
  other_images: np.ndarray  # uint8 [M, 64, 64, 3]; may be empty
  keyword_sources: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, str))


def judge_data(data) -> JudgeData:
  """Splits a :class:`~v2i_jax.image.data.CaptionedImageSet` (keyword classes 0..34) into keyword
  images and other emoji; ``keyword_sources`` names each keyword image's artwork style."""
  class_ids = np.asarray(data.class_ids)
  keyword = class_ids < len(KEYWORDS)
  if not keyword.any():
    raise JudgeError("the data set has no keyword images (class ids 0..34); build the emoji "
                     "set with configs/image_data.py.")
  sources = np.asarray([data.ids[i].split("/")[0] for i in np.flatnonzero(keyword)])
  return JudgeData(keyword_images=data.images[keyword],
                   keyword_labels=class_ids[keyword].astype(np.int32),
                   other_images=data.images[~keyword], keyword_sources=sources)


def _batch_indices(data: JudgeData, config: ml_collections.ConfigDict, step: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(keyword image indices, their labels, other-emoji indices) of a step: keywords
  class-balanced, a pure function of (seed, step)."""
  rng = np.random.default_rng([config.seed, step])
  num_other = (int(round(config.batch_size * config.other_fraction))
               if config.other_class and len(data.other_images) else 0)
  classes = np.unique(data.keyword_labels)
  chosen = rng.choice(classes, config.batch_size - num_other)
  keyword_rows = np.asarray([rng.choice(np.flatnonzero(data.keyword_labels == c))
                             for c in chosen], np.int64)
  other_rows = rng.integers(0, max(len(data.other_images), 1), num_other)
  return keyword_rows, data.keyword_labels[keyword_rows], other_rows


def _init_params(model: JudgeNet, seed: int) -> Any:
  # Jitted, with the "rbg" generator: op by op, or with threefry, compiling the random draws
  # took tens of seconds on this CPU.
  init = jax.jit(lambda rng: model.init(rng, jnp.zeros((1, 64, 64, 3)))["params"])
  return init(jax.random.key(seed, impl="rbg"))


def _train_step(model: JudgeNet, tx: optax.GradientTransformation, config, params, opt_state,
                images, labels, draws):
  def loss_fn(p):
    # Augmenting at the model's input size is 10x cheaper than at 64x64 and sees the same pixels.
    small = augment_lib.box_downsample(_to_unit_range(images), config.input_size)
    logits, _ = model.apply({"params": p}, augment(small, draws))
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]),
                                  config.label_smoothing)
    loss = optax.softmax_cross_entropy(logits, targets).mean()
    return loss, (logits.argmax(-1) == labels).mean()
  (loss, accuracy), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, {"loss": loss, "accuracy": accuracy}


def train_judge(data: JudgeData, config: ml_collections.ConfigDict, show_progress: bool = True
                ) -> tuple[Judge, dict[str, float]]:
  """Trains a judge from scratch; returns it and {"train_seconds", "final_loss",
  "augmented_accuracy" (over the last 50 steps)}."""
  if config.batch_size <= 0 or config.num_steps <= 0:
    raise JudgeError(f"batch_size={config.batch_size} and num_steps={config.num_steps} must be "
                     "positive.")
  model = make_model(config)
  mesh = mesh_lib.make_mesh()
  mesh_lib.check_batch_size(config.batch_size, mesh)
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, config.learning_rate, min(config.warmup_steps, config.num_steps - 1) or 1,
      config.num_steps)
  tx = optax.adamw(schedule, weight_decay=config.weight_decay)
  params = _init_params(model, config.seed)
  params = mesh_lib.replicate(params, mesh)
  opt_state = mesh_lib.replicate(tx.init(params), mesh)
  step_fn = jax.jit(lambda *args: _train_step(model, tx, config, *args), donate_argnums=(0, 1))
  start = time.perf_counter()
  recent = []
  bar = loop_lib.progress(config.num_steps, desc="judge") if show_progress else None
  for step in range(config.num_steps):
    keyword_rows, labels, other_rows = _batch_indices(data, config, step)
    images = np.concatenate([data.keyword_images[keyword_rows], data.other_images[other_rows]])
    labels = np.concatenate([labels, np.full(len(other_rows), OTHER, np.int32)])
    draws = draw_augmentation(np.random.default_rng([config.seed, step, 1]), len(images),
                              config.input_size, config.augment)
    batch = mesh_lib.shard_batch({"images": images, "labels": labels, "draws": draws}, mesh)
    params, opt_state, metrics = step_fn(params, opt_state, batch["images"], batch["labels"],
                                         batch["draws"])
    recent = (recent + [metrics])[-50:]
    if bar is not None:
      bar.update(1)
  if bar is not None:
    bar.close()
  recent = jax.device_get(recent)
  info = {"train_seconds": time.perf_counter() - start,
          "final_loss": float(np.mean([m["loss"] for m in recent])),
          "augmented_accuracy": float(np.mean([m["accuracy"] for m in recent]))}
  if not np.isfinite(info["final_loss"]):
    raise loop_lib.NonFiniteLossError(f"the judge's loss became {info['final_loss']}; lower "
                                      "config.learning_rate.")
  return Judge(model, jax.device_get(params), config), info


_apply_augmented = jax.jit(
    lambda model, params, images, draws: model.apply(
        {"params": params},
        augment(augment_lib.box_downsample(_to_unit_range(images), model.input_size), draws))[0],
    static_argnums=0)


def calibrate_threshold(judge: Judge, data: JudgeData, config: ml_collections.ConfigDict
                        ) -> dict[str, float]:
  """Sets how sure the judge must be to name a keyword, from renders it never saw.

  Every real keyword image is drawn ``config.calibration_renders`` times under fresh random
  augmentation (the training's kinds, another seed stream); the threshold is the probability
  that ``config.accept_rate`` of the correctly named renders reach (their lower quantile).
  Returns {"threshold", "calibration_accuracy" (argmax, on the renders), "calibration_accepted"
  (share of all renders named right and at or above the threshold)}."""
  images = np.repeat(data.keyword_images, config.calibration_renders, axis=0)
  labels = np.repeat(data.keyword_labels, config.calibration_renders)
  rng = np.random.default_rng([config.seed, 7919])
  logits = []
  for padded, count in _padded_chunks(images):
    draws = draw_augmentation(rng, _EVAL_CHUNK, config.input_size, config.augment)
    logits.append(np.asarray(_apply_augmented(judge.model, judge.params, padded,
                                              draws))[:count])
  logits = np.concatenate(logits)
  probs = _softmax(logits)
  right = probs.argmax(axis=1) == labels
  if not right.any():
    raise JudgeError("the judge names none of the augmented real keyword images; train it "
                     "longer (config.num_steps) before scoring a GAN.")
  threshold = float(np.quantile(probs[right, labels[right]], 1.0 - config.accept_rate))
  accepted = strict_predictions(logits, threshold) == labels
  return {"threshold": threshold, "calibration_accuracy": float(right.mean()),
          "calibration_accepted": float(accepted.mean())}


# ------------------------------------------------------------------------------------------------
# The cached judge.


def judge_fingerprint(config: ml_collections.ConfigDict) -> str:
  """Changes whenever the trained judge would: the emoji set, the judge settings, the code."""
  settings = config.to_dict()
  settings.pop("cache_dir")
  settings["data"] = data_lib.emoji_config_fingerprint(config.data)
  text = json.dumps({"judge": settings, "version": JUDGE_VERSION}, sort_keys=True, default=list)
  return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def judge_dir(config: ml_collections.ConfigDict) -> str:
  return os.path.join(config.cache_dir, f"judge_{judge_fingerprint(config)}")


def _restore_judge(directory: str, config: ml_collections.ConfigDict
                   ) -> tuple[Judge, dict[str, Any]] | None:
  checkpoints = checkpoint_lib.Checkpointer(os.path.join(directory, "checkpoints"))
  try:
    if checkpoints.latest_step() is None:
      return None
    model = make_model(config)
    target = {"params": _init_params(model, 0)}
    _, state, meta = checkpoints.restore(target)
  finally:
    checkpoints.close()
  return Judge(model, state["params"], config, float(meta["info"]["threshold"])), meta


def load_or_train_judge(config: ml_collections.ConfigDict, show_progress: bool = True
                        ) -> tuple[Judge, JudgeData, dict[str, Any]]:
  """The judge of ``config`` (restored from the cache, else trained on the emoji set and cached),
  its training data (keyword images from the cache when the judge was) and its training info."""
  directory = judge_dir(config)
  keywords_path = os.path.join(directory, "keyword_images.npz")
  if os.path.exists(keywords_path):
    restored = _restore_judge(directory, config)
    if restored is not None:
      with np.load(keywords_path, allow_pickle=False) as f:
        data = JudgeData(keyword_images=f["images"], keyword_labels=f["labels"],
                         other_images=np.zeros((0, 64, 64, 3), np.uint8),
                         keyword_sources=f["sources"])
      judge, meta = restored
      return judge, data, dict(meta["info"], cached=True)
  data = judge_data(data_lib.load_caption_dataset("emoji", "all", config=config.data))
  judge, info = train_judge(data, config, show_progress)
  info.update(calibrate_threshold(judge, data, config))
  judge = dataclasses.replace(judge, threshold=info["threshold"])
  info["train_accuracy"] = conditional_accuracy(judge, data.keyword_images,
                                                data.keyword_labels)[0]
  os.makedirs(directory, exist_ok=True)
  checkpoints = checkpoint_lib.Checkpointer(os.path.join(directory, "checkpoints"))
  try:
    checkpoints.save(config.num_steps, {"params": judge.params},
                     {"info": info, "config": config.to_dict(),
                      "fingerprint": judge_fingerprint(config)})
  finally:
    checkpoints.close()
  tmp = keywords_path + ".tmp.npz"
  np.savez_compressed(tmp, images=data.keyword_images, labels=data.keyword_labels,
                      sources=data.keyword_sources)
  os.replace(tmp, keywords_path)  # written last: its presence marks a complete cache entry
  return judge, data, dict(info, cached=False)


# ------------------------------------------------------------------------------------------------
# Scoring.


def real_ceiling(judge: Judge, data: JudgeData, seed: int = 0) -> dict[str, Any]:
  """The numbers real images get: the judge's (strict) accuracy on the real keyword images, the
  feature FID between two class-stratified halves of them, and the spread of each keyword's real
  images (mean per-pixel standard deviation, 0..255)."""
  logits, features = judge_outputs(judge, data.keyword_images)
  accuracy, per_class = accuracy_by_class(strict_predictions(logits, judge.threshold),
                                          data.keyword_labels)
  first, second = stratified_halves(data.keyword_labels, seed)
  spreads = [metrics_lib.pixel_spread(data.keyword_images[data.keyword_labels == c])
             for c in np.unique(data.keyword_labels) if (data.keyword_labels == c).sum() >= 2]
  return {"real_conditional_accuracy": accuracy,
          "real_feature_fid": feature_fid(features[first], features[second]),
          "real_pixel_spread": float(np.mean(spreads)) if spreads else 0.0,
          "real_per_keyword": {KEYWORDS[c]: a for c, a in per_class.items()},
          "num_real": int(len(data.keyword_labels))}


def evaluate_generator(generate_fn: GenerateFn, judge: Judge, data: JudgeData,
                       num_per_caption: int = 16, seed: int = 1,
                       keywords: Sequence[str] = KEYWORDS,
                       return_images: bool = False) -> dict[str, Any]:
  """Scores a generator on the keyword captions (each keyword as a bare caption).

  Returns, over ``num_per_caption`` images per keyword:
  ``conditional_accuracy`` (the judge names the caption's keyword and is at least as sure as its
  calibrated threshold; "other" and unsure verdicts are misses), ``judged_other`` (share called
  no keyword), ``argmax_accuracy`` (the judge forced to pick, the old number),
  ``feature_fid`` (generated keyword images vs all real keyword images), ``diversity`` (mean
  over keywords of sample / real mean pairwise judge-feature distance) and ``min_diversity``,
  ``pixel_spread`` (mean per-pixel std over z, 0..255; ``real_pixel_spread`` beside it),
  ``coverage`` / ``density`` (Naeem et al., per keyword in judge features, averaged),
  ``nearest_real_coverage``, ``memorisation_ratio`` / ``near_copy_rate``
  (:func:`v2i_jax.image.metrics.memorisation`), ``keywords_below_half``, ``per_keyword`` (a
  dict of those numbers per keyword), and the real-image ceiling of :func:`real_ceiling`.
  ``return_images`` adds ``images`` (uint8, caption-major) for grids.
  """
  if num_per_caption < 2:
    raise JudgeError(f"num_per_caption={num_per_caption}; use at least 2 (16 is the default).")
  unknown = [k for k in keywords if k not in KEYWORDS]
  if unknown:
    raise JudgeError(f"{unknown} are not keywords the judge knows; use words of {KEYWORDS}.")
  images = np.asarray(generate_fn(list(keywords), num_per_caption, seed))
  expected = len(keywords) * num_per_caption
  if len(images) != expected:
    raise JudgeError(f"generate_fn returned {len(images)} images for {len(keywords)} captions x "
                     f"{num_per_caption}; it must return {expected}, caption-major.")
  labels = np.repeat([KEYWORDS.index(k) for k in keywords], num_per_caption)
  logits, fake_features = judge_outputs(judge, images)
  predictions = strict_predictions(logits, judge.threshold)
  accuracy, per_class = accuracy_by_class(predictions, labels)
  real_features = judge_features(judge, data.keyword_images)
  spread = metrics_lib.per_keyword_spread(fake_features, labels, real_features,
                                          data.keyword_labels, images, data.keyword_images)
  per_keyword = {}
  for c, a in per_class.items():
    rows = labels == c
    per_keyword[KEYWORDS[c]] = {"accuracy": a,
                                "other": float((predictions[rows] == OTHER).mean()),
                                **spread.get(c, {})}
  mean_of = lambda key: float(np.mean([v[key] for v in spread.values()])) if spread else 0.0
  result = {"conditional_accuracy": accuracy,
            "judged_other": float((predictions == OTHER).mean()),
            "argmax_accuracy": accuracy_by_class(logits.argmax(1), labels)[0],
            "judge_threshold": judge.threshold,
            "feature_fid": feature_fid(real_features, fake_features),
            "diversity": mean_of("diversity"),
            "min_diversity": min((v["diversity"] for v in spread.values()), default=0.0),
            "pixel_spread": mean_of("pixel_spread"),
            "coverage": mean_of("coverage"), "density": mean_of("density"),
            "nearest_real_coverage": mean_of("nearest_real_coverage"),
            **metrics_lib.memorisation(images, data.keyword_images),
            "keywords_below_half": sorted(k for k, v in per_keyword.items()
                                          if v["accuracy"] < 0.5),
            "num_generated": int(len(images))}
  result.update(real_ceiling(judge, data))
  result["per_keyword"] = per_keyword
  if return_images:
    result["images"] = images
  return result


def per_keyword_table(result: dict[str, Any]) -> str:
  """A markdown table of :func:`evaluate_generator`'s per-keyword numbers, worst first."""
  real = result.get("real_per_keyword", {})
  lines = ["| keyword | accuracy | judged other | diversity (sample / real) | pixel spread | "
           "coverage | nearest-real coverage | real images | real accuracy |",
           "|---|---|---|---|---|---|---|---|---|"]
  rows = sorted(result["per_keyword"].items(), key=lambda kv: (kv[1]["accuracy"], kv[0]))
  fmt = lambda v, key, spec=".2f": format(v[key], spec) if key in v else "-"
  for word, v in rows:
    lines.append(f"| {word} | {v['accuracy']:.2f} | {v['other']:.2f} | {fmt(v, 'diversity')} | "
                 f"{fmt(v, 'pixel_spread', '.1f')} | {fmt(v, 'coverage')} | "
                 f"{fmt(v, 'nearest_real_coverage')} | {v.get('num_real', '-')} | "
                 f"{real.get(word, float('nan')):.2f} |")
  return "\n".join(lines) + "\n"


def cross_style_accuracy(config: ml_collections.ConfigDict, holdout_source: str = "openmoji",
                         show_progress: bool = True) -> dict[str, Any]:
  """Trains a fresh judge without one artwork style (keyword and other images) and returns its
  accuracy on that style's keyword images: how well the judge generalises across styles."""
  dataset = data_lib.load_caption_dataset("emoji", "all", config=config.data)
  sources = np.asarray([i.split("/")[0] for i in dataset.ids])
  if holdout_source not in set(sources):
    raise JudgeError(f"no {holdout_source!r} images in the emoji set; use one of "
                     f"{sorted(set(sources))}.")
  train = judge_data(dataset.subset(sources != holdout_source))
  test = judge_data(dataset.subset(sources == holdout_source))
  judge, info = train_judge(train, config, show_progress)
  threshold = calibrate_threshold(judge, train, config)["threshold"]
  judge = dataclasses.replace(judge, threshold=threshold)
  accuracy, per_class = conditional_accuracy(judge, test.keyword_images, test.keyword_labels)
  logits = judge_outputs(judge, test.keyword_images)[0]
  return {"holdout_source": holdout_source, "holdout_accuracy": accuracy,
          "holdout_argmax_accuracy": accuracy_by_class(logits.argmax(1),
                                                       test.keyword_labels)[0],
          "holdout_threshold": threshold,
          "holdout_images": int(len(test.keyword_labels)),
          "holdout_per_keyword": {KEYWORDS[c]: a for c, a in per_class.items()},
          "train_seconds": info["train_seconds"]}
