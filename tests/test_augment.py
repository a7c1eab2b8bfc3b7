"""Waveform channels: same seed, same output; shape, dtype and range kept; each one acts."""

import ml_collections
import numpy as np
import pytest

from v2i_jax.speech import augment


def _speechlike(seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(16000) / 16000
  envelope = np.exp(-((t - 0.5) / 0.12) ** 2)
  x = envelope * (np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 2300 * t)
                  + 0.05 * rng.standard_normal(t.size))
  return (0.5 * x / np.abs(x).max()).astype(np.float32)


NOISES = [np.random.default_rng(7).standard_normal(40000).astype(np.float32) * 0.1]
CHANNELS = {
    "reverb": lambda x, rng: augment.reverb(x, rng),
    "microphone": augment.microphone,
    "telephone": augment.telephone,
    "noise": lambda x, rng: augment.add_noise(x, rng, NOISES, (5.0, 5.0)),
    "gain": augment.gain,
}


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_channel_is_deterministic_and_keeps_shape_and_range(name):
  x = _speechlike()
  a = CHANNELS[name](x, np.random.default_rng(3))
  b = CHANNELS[name](x, np.random.default_rng(3))
  np.testing.assert_array_equal(a, b)
  assert a.shape == x.shape and a.dtype == np.float32
  assert np.all(np.abs(a) <= 1.0) and np.all(np.isfinite(a))
  assert not np.allclose(a, x, atol=1e-3)  # It changed the sound.


def test_channel_effects_measure_as_intended():
  x = _speechlike()
  rng = np.random.default_rng(0)
  # Telephone band: almost nothing above 4 kHz survives.
  spectrum = np.abs(np.fft.rfft(augment.telephone(x + 0.3 * np.sin(
      2 * np.pi * 6000 * np.arange(16000) / 16000).astype(np.float32), rng)))
  freqs = np.fft.rfftfreq(16000, 1 / 16000)
  assert spectrum[freqs > 4200].max() < 0.02 * spectrum.max()
  # Noise at 5 dB SNR: the added part has about a third of the speech power.
  noisy = augment.add_noise(x, rng, NOISES, (5.0, 5.0))
  added = noisy - x
  assert 10 * np.log10(np.mean(x ** 2) / np.mean(added ** 2)) == pytest.approx(5.0, abs=0.5)
  # Gain sets the peak within the range.
  peak_db = 20 * np.log10(np.abs(augment.gain(x, rng, (-20.0, -20.0))).max())
  assert peak_db == pytest.approx(-20.0, abs=0.01)
  # A room's response decays: its last tenth holds far less energy than its first.
  h = augment.room_impulse_response(rng, 0.5)
  tenth = len(h) // 10
  assert np.sum(h[-tenth:] ** 2) < 1e-3 * np.sum(h[:tenth] ** 2)


def test_random_channel_follows_its_config():
  config = ml_collections.ConfigDict(dict(
      reverb_probability=1.0, rt60_range=(0.3, 0.3), microphone_probability=1.0,
      telephone_probability=1.0, noise_probability=1.0, snr_db_range=(10.0, 10.0),
      peak_dbfs_range=(-10.0, -10.0)))
  x = _speechlike()
  a = augment.random_channel(x, np.random.default_rng(1), config, NOISES)
  np.testing.assert_array_equal(a, augment.random_channel(x, np.random.default_rng(1), config,
                                                          NOISES))
  assert 20 * np.log10(np.abs(a).max()) == pytest.approx(-10.0, abs=0.01)
  off = config.copy_and_resolve_references()
  off.update(reverb_probability=0.0, microphone_probability=0.0, telephone_probability=0.0,
             noise_probability=0.0)
  plain = augment.random_channel(x, np.random.default_rng(1), off, NOISES)
  np.testing.assert_allclose(plain / np.abs(plain).max(), x / np.abs(x).max(), atol=1e-4)
