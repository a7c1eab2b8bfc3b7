import numpy as np
import pytest

from v2i_jax import audio


def _tone(sr=16000, seconds=0.5, channels=None):
  t = np.arange(int(sr * seconds)) / sr
  x = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
  return x if channels is None else np.stack([x] * channels, axis=1)


def test_resample_and_mixdown(tmp_path):
  p = tmp_path / "stereo48k.wav"
  audio.write_wav(p, _tone(48000, 0.5, channels=2), 48000)
  x = audio.load_audio(p)
  assert x.ndim == 1 and x.dtype == np.float32
  assert abs(x.size - 8000) <= 2


def test_int_pcm_and_channels_first():
  x = (_tone() * 32767).astype(np.int16)
  y = audio.prepare_waveform(np.stack([x, x]), 16000)
  np.testing.assert_allclose(y, x / 32768.0, atol=1e-6)


@pytest.mark.parametrize("make,needle", [
    (lambda: np.zeros(0, np.float32), "empty"),
    (lambda: np.zeros(16000, np.float32), "silent"),
    (lambda: _tone(seconds=40), "limit"),
    (lambda: np.full(100, np.nan, np.float32), "NaN"),
])
def test_bad_waveforms(make, needle):
  with pytest.raises(audio.AudioError, match=needle):
    audio.prepare_waveform(make(), 16000)


def test_bad_files(tmp_path):
  with pytest.raises(audio.AudioError, match="no such file"):
    audio.load_audio(tmp_path / "missing.wav")
  fake = tmp_path / "fake.wav"
  fake.write_text("this is not audio")
  with pytest.raises(audio.AudioError, match="not a readable audio file"):
    audio.load_audio(fake)


def test_fit_length():
  assert audio.fit_length(np.ones(10), 16).shape == (16,)
  assert audio.fit_length(np.arange(20.0), 16)[0] == 2.0
