"""MFCC feature settings that the keyword-classifier configs import (``config.mfcc = ...``).

Each returns an ``ml_collections.ConfigDict`` whose fields are those of
``v2i_jax.speech.features.MfccConfig`` (pass it to ``MfccConfig.from_any``). Every preset takes
1 s, 16 kHz clips; ``sample_rate`` is the rate the MFCCs are computed at.

- ``original_code()``: librosa's default ``feature.mfcc`` on a clip loaded at librosa's default
  22050 Hz, as the paper's code did: 20 coefficients x 44 frames (2048-point FFT, hop 512).
- ``paper()``: the same with the 5 coefficients the paper reports: 5 x 44.
- ``modern()``: the usual keyword-spotting front end at 16 kHz: 25 ms window, 10 ms hop,
  40 mel bands, 40 coefficients: 40 x 101.

Example (in a kws config): ``from configs import mfcc_presets; config.mfcc = mfcc_presets.modern()``.
"""

import ml_collections


def original_code() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      sample_rate=22050,
      clip_samples=16000,
      n_mfcc=20,
      n_mels=128,
      n_fft=2048,
      hop_length=512,
      win_length=2048,
      fmin=0.0,
      fmax=11025.0,
      center=True,
      top_db=80.0,
  ))


def paper() -> ml_collections.ConfigDict:
  config = original_code()
  config.n_mfcc = 5
  return config


def modern() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      sample_rate=16000,
      clip_samples=16000,
      n_mfcc=40,
      n_mels=40,
      n_fft=512,
      hop_length=160,
      win_length=400,
      fmin=20.0,
      fmax=8000.0,
      center=True,
      top_db=80.0,
  ))
