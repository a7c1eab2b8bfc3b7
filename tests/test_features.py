"""MFCC: the jitted JAX version matches the librosa reference within the documented tolerance."""

import functools

import jax
import librosa
import numpy as np
import pytest
import scipy.fft

from configs import mfcc_presets
from v2i_jax.speech import features
from v2i_jax.training import mesh as mesh_lib

PRESETS = {"paper": mfcc_presets.paper, "original_code": mfcc_presets.original_code,
           "modern": mfcc_presets.modern}


@functools.cache
def mfcc_fn(name):
  """One jitted function per preset for the whole module (each compiles per batch shape)."""
  return features.make_mfcc_fn(PRESETS[name]())


def speech_like(rng: np.random.Generator, n: int = 16000, sr: int = 16000) -> np.ndarray:
  """A voiced 'word': a glottal-like harmonic series with vibrato, two moving formants, an
  onset/offset envelope, breath noise and a faint noise floor, placed at a random time."""
  t = np.arange(n) / sr
  duration = rng.uniform(0.3, 0.8)
  start = rng.uniform(0.0, 1.0 - duration)
  envelope = np.clip((t - start) / 0.04, 0, 1) * np.clip((start + duration - t) / 0.08, 0, 1)
  f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
  phase = 2 * np.pi * np.cumsum(f0) / sr
  formants = [rng.uniform(300, 900) + 200 * t, rng.uniform(1000, 2500) - 400 * t]
  x = np.zeros(n)
  for k in range(1, 40):
    gain = sum(1 / (1 + ((k * f0 - f) / 150) ** 2) for f in formants)
    x += gain * np.sin(k * phase) / k
  x = (x + 0.05 * rng.standard_normal(n)) * envelope + 3e-4 * rng.standard_normal(n)
  return (rng.uniform(0.1, 0.9) * x / np.abs(x).max()).astype(np.float32)


def clips(n: int, seed: int = 0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  batch = [speech_like(rng) for _ in range(n - 1)]
  batch.append(np.zeros(16000, np.float32))  # Digital silence: everything sits on the floor.
  return np.stack(batch)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_jax_matches_librosa(name):
  cfg = features.MfccConfig.from_any(PRESETS[name]())
  x = clips(4, seed=len(name))
  got = np.asarray(mfcc_fn(name)(x))
  want = np.stack([features.mfcc_librosa(w, cfg) for w in x])
  assert got.shape == want.shape == (4,) + cfg.feature_shape
  assert np.all(np.isfinite(got))
  assert np.abs(want).max() > 100  # Real dB-scale features, not an all-zero match.
  np.testing.assert_allclose(got, want, rtol=0, atol=features.MAX_ABS_DIFF)


def test_jax_matches_librosa_on_espeak_speech():
  synth = pytest.importorskip("v2i_jax.speech.synth")
  speakers = synth.sample_speakers(4, seed=0)
  x = np.stack([features.audio.fit_length(synth.synthesize(word, s))
                for word, s in zip(["cat", "seven", "house", "up"], speakers)])
  cfg = features.MfccConfig.from_any(mfcc_presets.modern())
  got = np.asarray(mfcc_fn("modern")(x))
  want = np.stack([features.mfcc_librosa(w, cfg) for w in x])
  np.testing.assert_allclose(got, want, rtol=0, atol=features.MAX_ABS_DIFF)


@pytest.mark.parametrize("name,shape", [("paper", (44, 5)), ("original_code", (44, 20)),
                                        ("modern", (101, 40))])
def test_preset_shapes(name, shape):
  assert features.MfccConfig.from_any(PRESETS[name]()).feature_shape == shape


def test_original_code_preset_is_librosa_default_at_22050():
  # The original code: librosa.load(path) (22050 Hz) then librosa.feature.mfcc(y, sr) with
  # every other argument left at its default.
  x = clips(2, seed=3)[0]
  y = librosa.resample(x, orig_sr=16000, target_sr=22050, res_type="fft")
  want = librosa.feature.mfcc(y=y, sr=22050).T
  got = features.mfcc_librosa(x, mfcc_presets.original_code())
  assert want.shape == (44, 20)
  np.testing.assert_array_equal(got, want)


def test_sharded_batch_gives_the_same_features():
  fn = mfcc_fn("modern")
  x = clips(4, seed=5)
  mesh = mesh_lib.make_mesh()
  sharded = mesh_lib.shard_batch(x, mesh)
  assert len(sharded.sharding.device_set) == jax.device_count()
  np.testing.assert_allclose(np.asarray(fn(sharded)), np.asarray(fn(x)), rtol=0, atol=1e-4)


def test_single_clip_with_normalisation():
  x = clips(2, seed=7)[0]
  raw = np.asarray(mfcc_fn("paper")(x[None]))[0]
  mean, std = raw.mean(axis=0), raw.std(axis=0) + 1e-3
  z = features.normalize(raw, mean, std)
  assert z.shape == (44, 5)
  np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-3)
  np.testing.assert_allclose(raw, features.mfcc_librosa(x, mfcc_presets.paper()), rtol=0,
                             atol=features.MAX_ABS_DIFF)


def test_bad_configs_and_inputs_say_what_is_wrong():
  with pytest.raises(ValueError, match="win_length"):
    features.MfccConfig(n_fft=256, win_length=400)
  with pytest.raises(ValueError, match="n_mfcc"):
    features.MfccConfig(n_mfcc=64, n_mels=40)
  with pytest.raises(ValueError, match="fmax"):
    features.MfccConfig(fmax=11025.0)
  with pytest.raises(ValueError, match="unknown MFCC config fields.*'n_coeffs'"):
    features.MfccConfig.from_any({"n_coeffs": 5})
  with pytest.raises(ValueError, match="fit_length"):
    features.make_mfcc_fn(features.MfccConfig())(np.zeros((2, 8000), np.float32))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_constants_equal_librosa_and_scipy(name):
  cfg = features.MfccConfig.from_any(PRESETS[name]())
  want_mel = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                                 fmin=cfg.fmin, fmax=cfg.fmax)
  np.testing.assert_allclose(features.mel_filterbank(cfg), want_mel, rtol=1e-5,
                             atol=1e-6 * want_mel.max())
  want_window = librosa.util.pad_center(librosa.filters.get_window("hann", cfg.win_length),
                                        size=cfg.n_fft)
  np.testing.assert_allclose(features.hann_window(cfg.win_length, cfg.n_fft), want_window,
                             atol=1e-12)
  want_dct = scipy.fft.dct(np.eye(cfg.n_mels), type=2, norm="ortho", axis=0)[:cfg.n_mfcc]
  np.testing.assert_allclose(features.dct_matrix(cfg.n_mels, cfg.n_mfcc), want_dct, atol=1e-12)
