"""Waveform channels: what a room, a microphone, a phone line and a noisy place do to speech.

Each function takes a float32 16 kHz clip and a ``numpy.random.Generator`` and returns a clip
of the same length and dtype with samples in [-1, 1]; the same generator state gives the same
output. :func:`random_channel` chains them with the probabilities and ranges of a config (the
``channel`` block of ``configs/speech_data_ood.py``), to turn held-out synthetic voices into
something closer to what users record: the out-of-distribution keyword yardstick, and training
augmentation.

* :func:`reverb`: a synthetic room impulse response (direct path, a few early reflections, an
  exponentially decaying diffuse tail of the given RT60), mixed at a direct-to-reverberant ratio.
* :func:`microphone`: a small microphone's response: high-pass (80-400 Hz), low-pass
  (3.4-7.5 kHz) and one +-6 dB resonance between 1 and 4 kHz.
* :func:`telephone`: G.711 narrow band: 8 kHz resampling and 8-bit mu-law companding.
* :func:`add_noise`: a noise recording (babble, fans, hum) at an SNR drawn in dB.
* :func:`gain`: the peak level in dBFS.
* :func:`speed`: faster or slower speech (tempo and pitch together), kept centred.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import scipy.signal
import soxr

from v2i_jax import audio

SR = audio.SAMPLE_RATE
MU = 255.0


def _fit(x: np.ndarray, like: np.ndarray) -> np.ndarray:
  y = np.asarray(x, np.float64)[:like.size]
  if y.size < like.size:
    y = np.pad(y, (0, like.size - y.size))
  return np.clip(y, -1.0, 1.0).astype(np.float32)


def _peak(x: np.ndarray) -> float:
  return float(np.max(np.abs(x))) if x.size else 0.0


def room_impulse_response(rng: np.random.Generator, rt60: float) -> np.ndarray:
  """Direct path + 3-6 early reflections (2-25 ms) + a diffuse tail decaying 60 dB in ``rt60``."""
  n = int(rt60 * SR)
  t = np.arange(n) / SR
  tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # ln(1000) = 6.9: -60 dB at rt60
  tail[:int(0.005 * SR)] = 0.0
  h = np.zeros(n)
  h[0] = 1.0
  for _ in range(int(rng.integers(3, 7))):
    h[int(rng.uniform(0.002, 0.025) * SR)] += rng.uniform(-0.6, 0.6)
  # Direct-to-reverberant energy ratio between 0 and +12 dB.
  drr_db = rng.uniform(0.0, 12.0)
  tail *= math.sqrt(np.sum(h ** 2) / max(np.sum(tail ** 2), 1e-12) / 10 ** (drr_db / 10))
  return h + tail


def reverb(x: np.ndarray, rng: np.random.Generator,
           rt60_range: Sequence[float] = (0.2, 0.8)) -> np.ndarray:
  h = room_impulse_response(rng, rng.uniform(*rt60_range))
  y = scipy.signal.fftconvolve(x.astype(np.float64), h)[:x.size]
  return _fit(y * (_peak(x) / max(_peak(y), 1e-9)), x)


def microphone(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  high = scipy.signal.butter(2, rng.uniform(80.0, 400.0), "highpass", fs=SR, output="sos")
  low = scipy.signal.butter(4, rng.uniform(3400.0, 7500.0), "lowpass", fs=SR, output="sos")
  y = scipy.signal.sosfilt(np.concatenate([high, low]), x.astype(np.float64))
  # One resonance (peaking EQ, RBJ cookbook) of +-6 dB.
  f0, gain_db, q = rng.uniform(1000.0, 4000.0), rng.uniform(-6.0, 6.0), rng.uniform(0.7, 2.0)
  a, w0 = 10 ** (gain_db / 40), 2 * math.pi * f0 / SR
  alpha = math.sin(w0) / (2 * q)
  b = [1 + alpha * a, -2 * math.cos(w0), 1 - alpha * a]
  den = [1 + alpha / a, -2 * math.cos(w0), 1 - alpha / a]
  y = scipy.signal.lfilter(b, den, y)
  return _fit(y * (_peak(x) / max(_peak(y), 1e-9)), x)


def telephone(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  del rng  # Deterministic; takes rng like the others so chains treat them alike.
  narrow = soxr.resample(x.astype(np.float32), SR, 8000)
  scale = max(_peak(narrow), 1e-9)
  v = narrow / scale
  code = np.round((np.sign(v) * np.log1p(MU * np.abs(v)) / math.log1p(MU)) * 127.0) / 127.0
  v = np.sign(code) * np.expm1(np.abs(code) * math.log1p(MU)) / MU
  return _fit(soxr.resample((v * scale).astype(np.float32), 8000, SR), x)


def add_noise(x: np.ndarray, rng: np.random.Generator, noises: Sequence[np.ndarray],
              snr_db_range: Sequence[float] = (0.0, 20.0)) -> np.ndarray:
  """A random stretch of one of ``noises`` (each at least as long as ``x``) at a random SNR."""
  noise = noises[int(rng.integers(len(noises)))]
  start = int(rng.integers(0, noise.size - x.size + 1))
  segment = noise[start:start + x.size].astype(np.float64)
  speech_power = float(np.mean(x.astype(np.float64) ** 2))
  noise_power = max(float(np.mean(segment ** 2)), 1e-12)
  snr_db = rng.uniform(*snr_db_range)
  y = x + segment * math.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
  return _fit(y / max(1.0, _peak(y) / 0.99), x)


def gain(x: np.ndarray, rng: np.random.Generator,
         peak_dbfs_range: Sequence[float] = (-35.0, -3.0)) -> np.ndarray:
  return _fit(x * (10 ** (rng.uniform(*peak_dbfs_range) / 20) / max(_peak(x), 1e-9)), x)


def speed(x: np.ndarray, rng: np.random.Generator,
          factor_range: Sequence[float] = (0.85, 1.15)) -> np.ndarray:
  """``x`` played ``factor`` times as fast (a factor > 1 is shorter and higher), re-centred in
  the clip's length."""
  factor = rng.uniform(*factor_range)
  y = soxr.resample(x.astype(np.float32), SR * factor, SR)
  if y.size >= x.size:
    start = (y.size - x.size) // 2
    return _fit(y[start:start + x.size], x)
  left = (x.size - y.size) // 2
  return _fit(np.pad(y, (left, x.size - y.size - left)), x)


def random_channel(x: np.ndarray, rng: np.random.Generator, config,
                   noises: Sequence[np.ndarray]) -> np.ndarray:
  """Speed (training only), room, microphone, phone line, noise and level, each with its
  probability in ``config`` (``speed_probability`` and ``speed_range`` if present,
  ``reverb_probability``, ``rt60_range``, ``microphone_probability``,
  ``telephone_probability``, ``noise_probability``, ``snr_db_range``, ``peak_dbfs_range``)."""
  if rng.uniform() < config.get("speed_probability", 0.0):
    x = speed(x, rng, config.speed_range)
  if rng.uniform() < config.reverb_probability:
    x = reverb(x, rng, config.rt60_range)
  if rng.uniform() < config.microphone_probability:
    x = microphone(x, rng)
  if rng.uniform() < config.telephone_probability:
    x = telephone(x, rng)
  if noises and rng.uniform() < config.noise_probability:
    x = add_noise(x, rng, noises, config.snr_db_range)
  return gain(x, rng, config.peak_dbfs_range)
