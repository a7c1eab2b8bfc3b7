"""Feature cache (hit, invalidation, train-only statistics) and the seeded, resumable tf.data input."""

import os

import jax
import numpy as np
import pytest

from v2i_jax import audio
from v2i_jax.speech import dataset
from v2i_jax.speech import features
from v2i_jax.speech import input_pipeline
from v2i_jax.training import mesh as mesh_lib

# Small frames keep the build fast; the pipeline does not care which preset it serves.
CFG = features.MfccConfig(n_mfcc=13, n_mels=26, n_fft=512, hop_length=320, win_length=400)
WORDS = ["chirp", "hiss", "hum"]  # Sorted: the default label order.


def _speakers_per_split(counts):
  """Speaker ids whose Speech Commands hash falls in each split, so every split has clips."""
  found = {split: [] for split in counts}
  i = 0
  while any(len(found[s]) < n for s, n in counts.items()):
    speaker = f"{i:08x}"
    split = dataset.which_set(f"x/{speaker}_nohash_0.wav")
    if len(found[split]) < counts[split]:
      found[split].append(speaker)
    i += 1
  return found


def _word_clip(word, rng):
  t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
  if word == "chirp":
    x = np.sin(2 * np.pi * (300 + 1500 * t) * t)
  elif word == "hum":
    x = sum(np.sin(2 * np.pi * k * rng.uniform(100, 140) * t) / k for k in range(1, 6))
  else:
    x = rng.standard_normal(t.size)
  return (rng.uniform(0.2, 0.6) * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("speech")
  rng = np.random.default_rng(0)
  speakers = _speakers_per_split({"train": 6, "validation": 2, "test": 2})
  for word in WORDS:
    os.makedirs(root / word)
    for split_speakers in speakers.values():
      for speaker in split_speakers:
        for n in range(2):
          audio.write_wav(root / word / f"{speaker}_nohash_{n}.wav", _word_clip(word, rng))
  return str(root)


@pytest.fixture(scope="module")
def feature_set(data_dir, tmp_path_factory):
  return input_pipeline.load_features(data_dir, CFG, str(tmp_path_factory.mktemp("cache")),
                                      batch_size=16)


def test_features_have_every_clip_and_the_right_shapes(data_dir, feature_set):
  assert feature_set.words == tuple(WORDS)
  for split, (x, y) in feature_set.splits.items():
    clips = dataset.list_clips(data_dir, split, WORDS)
    assert x.shape == (len(clips),) + CFG.feature_shape and x.dtype == np.float32
    np.testing.assert_array_equal(y, [label for _, label in clips])
    assert np.all(np.isfinite(x))
  assert {len(x) for x, _ in feature_set.splits.values()} == {36, 12}  # 6/2/2 speakers x 3 x 2.


def test_statistics_come_from_the_train_split_only(feature_set):
  with np.load(feature_set.cache_path) as f:
    raw = {k: f[k] for k in f.files}
  train = raw["x_train"].reshape(-1, CFG.n_mfcc)
  np.testing.assert_allclose(feature_set.mean, train.mean(axis=0), rtol=1e-5, atol=1e-3)
  np.testing.assert_allclose(feature_set.std, train.std(axis=0), rtol=1e-4)
  x_train = feature_set.splits["train"][0].reshape(-1, CFG.n_mfcc)
  np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-4)
  np.testing.assert_allclose(x_train.std(axis=0), 1.0, atol=1e-3)
  # Validation is normalised with the train statistics, so its own mean is not zero.
  x_val = feature_set.splits["validation"][0]
  np.testing.assert_allclose(x_val, (raw["x_validation"] - feature_set.mean) / feature_set.std,
                             atol=1e-5)
  assert np.abs(x_val.reshape(-1, CFG.n_mfcc).mean(axis=0)).max() > 1e-3


def test_cached_features_are_the_mfccs_of_the_files(data_dir, feature_set):
  path, _ = dataset.list_clips(data_dir, "test", WORDS)[-1]
  want = features.mfcc_librosa(audio.load_audio(path), CFG)
  x_test = feature_set.splits["test"][0]
  got = x_test[-1] * feature_set.std + feature_set.mean
  np.testing.assert_allclose(got, want, rtol=0, atol=features.MAX_ABS_DIFF)


def test_cache_hit_and_invalidation(data_dir, feature_set, monkeypatch, tmp_path):
  cache_dir = os.path.dirname(feature_set.cache_path)
  computed = []
  real_compute = input_pipeline._compute_features
  monkeypatch.setattr(input_pipeline, "_compute_features",
                      lambda paths, *a, **k: computed.append(len(paths)) or real_compute(
                          paths, *a, **k))
  again = input_pipeline.load_features(data_dir, CFG, cache_dir)
  assert computed == [] and again.cache_path == feature_set.cache_path
  np.testing.assert_array_equal(again.splits["test"][0], feature_set.splits["test"][0])

  other_cfg = features.MfccConfig(**{**CFG.to_dict(), "n_mfcc": 8})
  other = input_pipeline.load_features(data_dir, other_cfg, cache_dir)
  assert computed == [36, 12, 12] and other.cache_path != feature_set.cache_path
  assert other.splits["train"][0].shape[-1] == 8

  # Rewriting one clip (new size/mtime) changes the key, so the data set is rebuilt.
  key = input_pipeline.cache_key(data_dir, CFG)
  clip = dataset.list_clips(data_dir, "train", WORDS)[0][0]
  audio.write_wav(clip, np.zeros(8000, np.float32))
  assert input_pipeline.cache_key(data_dir, CFG) != key


def test_train_order_is_a_function_of_seed_and_step(feature_set):
  x, y = feature_set.splits["train"]
  batch = 8
  steps = input_pipeline.steps_per_epoch(len(x), batch)  # 36 // 8 = 4, 4 examples dropped.
  first = _take(input_pipeline.train_batches(x, y, batch, seed=3), 3 * steps)
  again = _take(input_pipeline.train_batches(x, y, batch, seed=3), 3 * steps)
  other = _take(input_pipeline.train_batches(x, y, batch, seed=4), 3 * steps)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a["features"], b["features"])
    np.testing.assert_array_equal(a["label"], b["label"])
  assert any(not np.array_equal(a["features"], b["features"]) for a, b in zip(first, other))
  # Within an epoch no example repeats; epochs are shuffled differently.
  rows = [_row_ids(b["features"], x) for b in first]
  epochs = [np.concatenate(rows[e * steps:(e + 1) * steps]) for e in range(3)]
  for ids in epochs:
    assert len(set(ids)) == steps * batch
  assert not np.array_equal(epochs[0], epochs[1])
  np.testing.assert_array_equal(np.concatenate([b["label"] for b in first]),
                                y[np.concatenate(rows)])


def test_resume_at_a_step_sees_the_same_batches(feature_set):
  x, y = feature_set.splits["train"]
  full = _take(input_pipeline.train_batches(x, y, 8, seed=1), 11)
  for start in (2, 4, 7):  # Mid-epoch, an epoch boundary (4 steps/epoch), a later epoch.
    resumed = _take(input_pipeline.train_batches(x, y, 8, seed=1, start_step=start), 11 - start)
    for a, b in zip(full[start:], resumed):
      np.testing.assert_array_equal(a["features"], b["features"])
      np.testing.assert_array_equal(a["label"], b["label"])


def test_eval_batches_cover_every_example_once(feature_set):
  x, y = feature_set.splits["train"]
  batches = list(input_pipeline.eval_batches(x, y, 10))
  assert len(batches) == 4 and all(b["features"].shape == (10,) + x.shape[1:] for b in batches)
  mask = np.concatenate([b["mask"] for b in batches])
  assert mask.sum() == len(x) and not mask[len(x):].any()
  np.testing.assert_array_equal(np.concatenate([b["features"] for b in batches])[mask], x)
  np.testing.assert_array_equal(np.concatenate([b["label"] for b in batches])[mask], y)
  assert not batches[-1]["features"][~batches[-1]["mask"]].any()


def test_batches_go_onto_the_mesh(feature_set):
  x, y = feature_set.splits["train"]
  mesh = mesh_lib.make_mesh()
  batch = next(input_pipeline.train_batches(x, y, 2 * jax.device_count(), seed=0))
  on_mesh = mesh_lib.shard_batch(batch, mesh)
  assert len(on_mesh["features"].sharding.device_set) == jax.device_count()
  np.testing.assert_array_equal(np.asarray(on_mesh["label"]), batch["label"])


def test_too_few_examples_and_empty_folders_say_the_fix(feature_set, tmp_path):
  x, y = feature_set.splits["validation"]
  with pytest.raises(input_pipeline.FeatureDataError, match="batch_size"):
    input_pipeline.train_batches(x, y, 100, seed=0)
  with pytest.raises(ValueError, match="start_step"):
    input_pipeline.train_batches(x, y, 4, seed=0, start_step=-1)
  (tmp_path / "data" / "cat").mkdir(parents=True)
  with pytest.raises(input_pipeline.FeatureDataError, match="no training clips"):
    input_pipeline.load_features(str(tmp_path / "data"), CFG, str(tmp_path / "cache"))


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def _row_ids(batch_features, x):
  """Index in ``x`` of each row of a batch (clips are distinct, so rows identify examples)."""
  flat = x.reshape(len(x), -1)
  return np.array([int(np.argmin(np.abs(flat - row.reshape(1, -1)).sum(axis=1)))
                   for row in batch_features])


def test_channel_copies_add_seeded_augmented_train_clips(data_dir, feature_set, tmp_path):
  import ml_collections
  channel = ml_collections.ConfigDict(dict(
      seed=0, speed_probability=1.0, speed_range=(0.9, 1.1), reverb_probability=1.0,
      rt60_range=(0.3, 0.3), microphone_probability=1.0, telephone_probability=0.0,
      noise_probability=0.0, snr_db_range=(10.0, 10.0), peak_dbfs_range=(-20.0, -6.0)))
  build = lambda cache: input_pipeline.load_features(
      data_dir, CFG, str(tmp_path / cache), batch_size=16, channel_copies=2, channel=channel)
  augmented = build("a")
  x, y = augmented.splits["train"]
  x0, y0 = feature_set.splits["train"]
  assert x.shape == (3 * len(x0),) + x0.shape[1:]
  np.testing.assert_array_equal(y, np.tile(y0, 3))
  # Validation and test stay as recorded; the copies differ from the clips and from each other.
  assert len(augmented.splits["test"][0]) == len(feature_set.splits["test"][0])
  raw = x * augmented.std + augmented.mean
  n = len(x0)
  assert not np.allclose(raw[:n], raw[n:2 * n], atol=1e-2)
  assert not np.allclose(raw[n:2 * n], raw[2 * n:], atol=1e-2)
  # Same seed, another cache folder: the same features, so a rebuild changes nothing.
  np.testing.assert_array_equal(build("b").splits["train"][0], x)
  with pytest.raises(input_pipeline.FeatureDataError, match="needs a channel config"):
    input_pipeline.load_features(data_dir, CFG, str(tmp_path / "c"), channel_copies=1)
