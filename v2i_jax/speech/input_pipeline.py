"""Keyword-classifier input: MFCCs computed once into an on-disk cache, served by tf.data.

:func:`load_features` reads every clip of a Speech Commands-layout folder, computes MFCCs with
the jitted JAX function (:func:`v2i_jax.speech.features.make_mfcc_fn`) and stores them per split
in ``<cache_dir>/mfcc-<key>.npz``. The key hashes the feature config, the word list and every
clip's path, split, size and mtime, so a changed data set or config builds a new cache and an
unchanged one is read back in seconds. Per-coefficient mean/std come from the train split only
and are applied to every split; they are returned so the recogniser can apply the same ones.

:func:`train_batches` serves shuffled batches whose order is a pure function of ``(seed, step)``:
epoch ``e`` is a stateless permutation seeded by ``(seed, e)``, so a run resumed at step ``s``
sees exactly the batches an uninterrupted run sees from step ``s`` on (for one TensorFlow
version; stateless random ops are stable within a version). :func:`eval_batches` keeps every
example once, padding the last batch and marking real rows in ``mask``, because a sharded step
needs the same batch size (divisible by the device count) every time.

With several processes (``process_count > 1``) each process gets only its slice of every global
batch (rows ``process_index * B / P`` on, :func:`process_rows`): the global batch of a step is
the same for any number of processes, and no process gathers rows another one feeds.

Batches are dicts of numpy arrays, ready for ``v2i_jax.training.mesh.shard_batch(batch, mesh)``.
TensorFlow is imported only when a pipeline is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from v2i_jax import audio
from v2i_jax.speech import dataset
from v2i_jax.speech import features
from v2i_jax.training import loop

SPLITS = ("train", "validation", "test")
# Bump when the cache's contents change meaning (layout, feature code), to invalidate old files.
CACHE_VERSION = 1
# A coefficient that is constant over the train split would otherwise divide by ~0.
MIN_STD = 1e-3


class FeatureDataError(ValueError):
  """The data folder cannot give features (e.g. no training clips); the message says the fix."""


@dataclasses.dataclass(frozen=True)
class FeatureSet:
  """Normalised MFCCs of every split plus what is needed to treat new audio the same way.

  ``splits[name] = (x float32 [N, frames, n_mfcc], y int32 [N])`` with ``y`` indexing ``words``.
  ``mean`` and ``std`` (float32 ``[n_mfcc]``) are the train split's; ``x`` is already normalised
  with them. For a new clip: ``features.normalize(mfcc_fn(clip[None])[0], mean, std)``.
  """
  splits: dict[str, tuple[np.ndarray, np.ndarray]]
  words: tuple[str, ...]
  mean: np.ndarray
  std: np.ndarray
  mfcc_cfg: features.FrontEndConfig
  cache_path: str


def cache_key(data_dir: str, mfcc_cfg: features.FrontEndConfig | Mapping[str, Any],
              words: Sequence[str] | None = None, channel_copies: int = 0,
              channel: Mapping[str, Any] | None = None) -> str:
  """Hex digest naming the cache of ``data_dir`` under ``mfcc_cfg`` (see module docstring)."""
  cfg = features.front_end_from_any(mfcc_cfg)
  words = dataset.words_in(data_dir) if words is None else list(words)
  return _cache_key(data_dir, cfg, words, _list_splits(data_dir, words),
                    _augmentation(channel_copies, channel))


def load_features(data_dir: str, mfcc_cfg: features.FrontEndConfig | Mapping[str, Any],
                  cache_dir: str, words: Sequence[str] | None = None,
                  batch_size: int = 64, channel_copies: int = 0,
                  channel: Mapping[str, Any] | None = None) -> FeatureSet:
  """MFCCs of every clip of ``data_dir``, from the cache or computed (and cached) now.

  Args:
    data_dir: a Speech Commands-layout folder.
    mfcc_cfg: the front end: an ``MfccConfig`` or ``EmbeddingConfig``, or a ConfigDict/dict with
      its fields (``configs/mfcc_presets``).
    cache_dir: where ``mfcc-<key>.npz`` files live (created if missing).
    words: the label order (default: every word folder, sorted).
    batch_size: clips per call of the JAX feature function while building (on CPU, 32-64 beat
      256, whose intermediates fall out of cache; see benchmarks/mfcc.py).
    channel_copies: the train split also holds this many copies of every clip, each passed
      through its own random channel (:func:`v2i_jax.speech.augment.random_channel` with
      ``channel``, over the folder's ``_background_noise_`` recordings; seeded by the copy and
      clip index, so a rebuild gives the same features).
  """
  cfg = features.front_end_from_any(mfcc_cfg)
  words = dataset.words_in(data_dir) if words is None else list(words)
  clips = _list_splits(data_dir, words)
  if not clips["train"]:
    raise FeatureDataError(
        f"{data_dir}: no training clips for words {words}; check the folder holds "
        "<word>/<speaker>_nohash_<n>.wav files not all listed in validation/testing lists.")
  augmentation = _augmentation(channel_copies, channel)
  key = _cache_key(data_dir, cfg, words, clips, augmentation)
  path = os.path.join(cache_dir, f"mfcc-{key[:20]}.npz")
  if os.path.exists(path):
    raw = _read_cache(path, key)
  else:
    raw = _build_cache(path, key, cfg, words, clips, batch_size, data_dir, augmentation)
  splits = {}
  for name in SPLITS:
    x = raw[f"x_{name}"]
    # features.normalize, done in place: the full data set is gigabytes at 101 x 40.
    np.subtract(x, raw["mean"], out=x)
    np.divide(x, raw["std"], out=x)
    splits[name] = (x, raw[f"y_{name}"])
  return FeatureSet(splits=splits, words=tuple(words), mean=raw["mean"], std=raw["std"],
                    mfcc_cfg=cfg, cache_path=path)


def _compute_features(paths: Sequence[str], cfg: features.FrontEndConfig, mfcc_fn,
                      batch_size: int, desc: str, transform=None) -> np.ndarray:
  """Raw features ``[len(paths), *feature_shape]``; every batch is padded to ``batch_size`` so
  ``mfcc_fn`` compiles once. ``transform(index, waveform)``, if given, changes each clip first."""
  out = np.zeros((len(paths),) + cfg.feature_shape, np.float32)
  bar = loop.progress(total=len(paths), desc=desc)
  pending = None  # JAX runs asynchronously: read batch k's result after loading batch k + 1.
  for start in range(0, len(paths), batch_size):
    chunk = paths[start:start + batch_size]
    waves = np.zeros((batch_size, cfg.clip_samples), np.float32)
    for i, path in enumerate(chunk):
      # A near-silent clip is still an example of its word; only unreadable files are errors.
      waves[i] = audio.fit_length(audio.load_audio(path, allow_silent=True), cfg.clip_samples)
      if transform is not None:
        waves[i] = transform(start + i, waves[i])
    if pending is not None:
      _store(out, *pending, bar)
    pending = (start, len(chunk), mfcc_fn(waves))
  if pending is not None:
    _store(out, *pending, bar)
  bar.close()
  return out


def _store(out: np.ndarray, start: int, count: int, result, bar) -> None:
  out[start:start + count] = np.asarray(result)[:count]
  bar.update(count)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  """Full batches per epoch (the train pipeline drops the remainder)."""
  if batch_size < 1 or num_examples < batch_size:
    raise FeatureDataError(
        f"{num_examples} training examples cannot fill one batch of {batch_size}; lower "
        "config.batch_size or add data.")
  return num_examples // batch_size


def process_rows(batch_size: int, process_index: int = 0, process_count: int = 1) -> slice:
  """The rows of a global batch of ``batch_size`` that process ``process_index`` feeds."""
  if process_count < 1 or not 0 <= process_index < process_count:
    raise ValueError(f"process_index={process_index} is not in 0 .. process_count - 1 = "
                     f"{process_count - 1}.")
  if batch_size % process_count:
    raise ValueError(f"batch size {batch_size} is not divisible by the {process_count} processes; "
                     f"set the batch size to a multiple of {process_count}.")
  rows = batch_size // process_count
  return slice(process_index * rows, (process_index + 1) * rows)


def train_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                  start_step: int = 0, process_index: int = 0,
                  process_count: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """Endless ``{'features' [B, T, C] float32, 'label' [B] int32}`` batches from step ``start_step``.

  Step ``s`` is batch ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch``, whose order is
  a stateless shuffle seeded by ``(seed, epoch)``; the last partial batch of an epoch is dropped.
  ``batch_size`` is the global batch; this process gets its :func:`process_rows` of it.
  """
  tf = _tensorflow()
  x, y = _checked_examples(x, y)
  steps = steps_per_epoch(len(x), batch_size)
  rows = process_rows(batch_size, process_index, process_count)
  if start_step < 0:
    raise ValueError(f"start_step must be >= 0, got {start_step}.")
  start_epoch, skip = divmod(int(start_step), steps)
  n = len(x)

  def epoch_index_batches(epoch):
    order = tf.random.experimental.stateless_shuffle(
        tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
    return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True)

  ds = tf.data.Dataset.counter(start_epoch, dtype=tf.int64).flat_map(epoch_index_batches)
  ds = ds.skip(skip).map(lambda idx: idx[rows.start:rows.stop])
  ds = ds.map(_gatherer(tf, x, y, rows.stop - rows.start))
  return ds.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()


def eval_batches(x: np.ndarray, y: np.ndarray, batch_size: int, process_index: int = 0,
                 process_count: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """Every example once, in order, as ``{'features', 'label', 'mask'}`` batches of ``batch_size``.

  The last batch is zero-padded; ``mask`` (bool ``[B]``) is False on padding rows, so metrics
  must weight by it. With several processes each gets its :func:`process_rows` of every batch.
  """
  tf = _tensorflow()
  x, y = _checked_examples(x, y)
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
  rows = process_rows(batch_size, process_index, process_count)
  local_size = rows.stop - rows.start
  gather = _gatherer(tf, x, y, local_size)

  def padded(idx):
    real = tf.shape(idx)[0]
    # Padding rows repeat example 0 and are then zeroed; mask marks the real rows.
    mask = (tf.range(batch_size) < real)[rows.start:rows.stop]
    batch = gather(tf.pad(idx, [[0, batch_size - real]])[rows.start:rows.stop])
    return {"features": tf.where(mask[:, None, None], batch["features"], 0.0),
            "label": tf.where(mask, batch["label"], 0),
            "mask": mask}

  ds = tf.data.Dataset.range(len(x)).batch(batch_size).map(padded)
  return ds.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()


def _gatherer(tf, x: np.ndarray, y: np.ndarray, batch_size: int):
  """A tf.data map from an index batch to ``{'features', 'label'}`` rows of ``x``/``y``.

  The arrays stay in numpy (gathered by ``tf.numpy_function``): turning a ~1 GB feature array
  into a TF constant or variable costs seconds and a second copy in memory.
  """
  def gather_numpy(idx):
    return x[idx], y[idx]

  def gather(idx):
    feats, labels = tf.numpy_function(gather_numpy, [idx], [tf.float32, tf.int32])
    feats.set_shape((batch_size,) + x.shape[1:])
    labels.set_shape((batch_size,))
    return {"features": feats, "label": labels}

  return gather


def _list_splits(data_dir: str, words: list[str]) -> dict[str, list[tuple[str, int]]]:
  return {name: dataset.list_clips(data_dir, name, words) for name in SPLITS}


def _augmentation(copies: int, channel: Mapping[str, Any] | None) -> dict[str, Any] | None:
  if copies < 0:
    raise FeatureDataError(f"channel_copies must be >= 0, got {copies}.")
  if not copies:
    return None
  if channel is None:
    raise FeatureDataError("channel_copies > 0 needs a channel config (config.augment.channel).")
  values = channel.to_dict() if hasattr(channel, "to_dict") else dict(channel)
  return {"copies": int(copies), "channel": json.loads(json.dumps(values))}


def _background_noises(data_dir: str) -> list[np.ndarray]:
  folder = os.path.join(data_dir, dataset.BACKGROUND_NOISE_DIR)
  if not os.path.isdir(folder):
    return []
  return [audio.load_audio(os.path.join(folder, name), allow_silent=True, max_seconds=600.0,
                           warn_band_limited=False)
          for name in sorted(os.listdir(folder)) if name.endswith(".wav")]


def _channel_transform(noises: list[np.ndarray], augmentation: dict[str, Any], copy: int):
  import ml_collections  # pylint: disable=g-import-not-at-top
  from v2i_jax.speech import augment  # pylint: disable=g-import-not-at-top
  channel = ml_collections.ConfigDict(augmentation["channel"])
  seed = int(channel.get("seed", 0))

  def transform(index, wave):
    rng = np.random.default_rng([seed, copy, index])
    return augment.random_channel(wave, rng, channel, [n for n in noises if n.size >= wave.size])

  return transform


def _cache_key(data_dir: str, cfg: features.FrontEndConfig, words: list[str],
               clips: dict[str, list[tuple[str, int]]],
               augmentation: dict[str, Any] | None = None) -> str:
  listing = {}
  for name, entries in clips.items():
    rows = []
    for path, label in entries:
      st = os.stat(path)
      rows.append([os.path.relpath(path, data_dir), label, st.st_size, st.st_mtime_ns])
    listing[name] = rows
  identity = {"version": CACHE_VERSION, "mfcc": cfg.to_dict(), "words": words, "clips": listing}
  if augmentation:
    identity["augmentation"] = augmentation
  blob = json.dumps(identity, sort_keys=True)
  return hashlib.sha256(blob.encode()).hexdigest()


def _build_cache(path: str, key: str, cfg: features.FrontEndConfig, words: list[str],
                 clips: dict[str, list[tuple[str, int]]], batch_size: int, data_dir: str = "",
                 augmentation: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
  mfcc_fn = features.make_feature_fn(cfg)
  raw = {}
  for name in SPLITS:
    paths = [p for p, _ in clips[name]]
    labels = np.asarray([label for _, label in clips[name]], np.int32)
    x = [_compute_features(paths, cfg, mfcc_fn, batch_size, desc=f"features {name}")]
    if name == "train" and augmentation:
      noises = _background_noises(data_dir)
      for copy in range(1, augmentation["copies"] + 1):
        x.append(_compute_features(paths, cfg, mfcc_fn, batch_size,
                                   desc=f"features train, channel copy {copy}",
                                   transform=_channel_transform(noises, augmentation, copy)))
    raw[f"x_{name}"] = np.concatenate(x) if len(x) > 1 else x[0]
    raw[f"y_{name}"] = np.tile(labels, len(x))
  train = raw["x_train"].reshape(-1, cfg.feature_shape[-1]).astype(np.float64)
  raw["mean"] = train.mean(axis=0).astype(np.float32)
  raw["std"] = np.maximum(train.std(axis=0), MIN_STD).astype(np.float32)
  cache_dir = os.path.dirname(path) or "."
  os.makedirs(cache_dir, exist_ok=True)
  # Write then rename, so a killed build never leaves a truncated file under the final name.
  tmp = os.path.join(cache_dir, f".{os.path.basename(path)}.{os.getpid()}.tmp.npz")
  np.savez(tmp, key=np.asarray(key), words=np.asarray(words),
           mfcc=np.asarray(json.dumps(cfg.to_dict())), **raw)
  os.replace(tmp, path)
  return raw


def _read_cache(path: str, key: str) -> dict[str, np.ndarray]:
  try:
    with np.load(path) as f:
      if str(f["key"]) != key:
        raise ValueError("key mismatch")
      return {k: f[k] for k in f.files if k not in ("key", "words", "mfcc")}
  except Exception as e:  # A truncated or foreign file: say which and how to recover.
    raise FeatureDataError(f"{path}: unreadable feature cache ({e}); delete it to rebuild.") from e


def _checked_examples(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
  if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
    raise ValueError(f"expected features [N, frames, coeffs] and labels [N], got {x.shape} and "
                     f"{y.shape}.")
  return x, y


def _tensorflow():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
  os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf
