"""One place that loads, checks, resamples and mixes down audio.

Every entry point (data builders, training, evaluation, the recogniser, the pipeline, the CLI)
goes through :func:`load_audio` or :func:`prepare_waveform`, so bad audio gets the same clear
message everywhere: the message names the file (or ``<array>``), the problem and the fix.
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16_000
# Peak below -60 dBFS counts as silence (a 16-bit file of dither only).
SILENCE_PEAK = 1e-3
DEFAULT_MAX_SECONDS = 30.0
# WAV writers that stream (size unknown when the header is written) put this or more there.
STREAMING_DATA_SIZE = 0x7FFF0000
# How the too-long message says to raise the limit, in every entry point that has one.
RAISE_LIMIT = "or raise the limit: --max_seconds on the command line, max_seconds= in the API"


class AudioError(ValueError):
  """Audio that cannot be used; the message says which file, what is wrong and what to do."""


def prepare_waveform(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    name: str = "<array>",
    max_seconds: float = DEFAULT_MAX_SECONDS,
    allow_silent: bool = False,
    warn_band_limited: bool = True,
) -> np.ndarray:
  """Checks a waveform and returns it as float32 mono at 16 kHz.

  Accepts shape ``(n,)`` or ``(n, channels)`` (soundfile's layout); integer PCM is scaled to
  [-1, 1]; other sample rates are resampled; several channels are averaged. Audio recorded below
  16 kHz (telephone-band 8 kHz) lacks the upper half of the speech band: it is used, with a
  one-line warning (``warn_band_limited``) that it is recognised less well.
  """
  x = np.asarray(waveform)
  if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
    raise AudioError(f"{name}: sample rate {sample_rate!r} is not a positive integer; pass the "
                     "rate the samples were recorded at, e.g. 16000.")
  if x.ndim == 2 and x.shape[0] < x.shape[1] and x.shape[0] <= 8:
    x = x.T  # (channels, n) -> (n, channels)
  if x.ndim not in (1, 2):
    raise AudioError(f"{name}: expected samples shaped (n,) or (n, channels), got {x.shape}.")
  if np.issubdtype(x.dtype, np.integer):
    x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
  elif not np.issubdtype(x.dtype, np.floating):
    raise AudioError(f"{name}: samples of dtype {x.dtype} are not audio; pass float or int PCM.")
  x = x.astype(np.float32)
  if x.ndim == 2:
    x = x.mean(axis=1)
  if x.size == 0:
    raise AudioError(f"{name}: the audio is empty (0 samples); record or pass at least 0.1 s.")
  if not np.all(np.isfinite(x)):
    raise AudioError(f"{name}: the audio holds NaN or Inf samples; it is corrupt.")
  seconds = x.size / sample_rate
  if seconds > max_seconds:
    raise AudioError(
        f"{name}: the audio is {seconds:.1f} s long, over the {max_seconds:g} s limit; cut it to "
        f"the spoken words ({RAISE_LIMIT}).")
  if sample_rate < SAMPLE_RATE and warn_band_limited:
    logging.warning("%s: recorded at %d Hz, below the %d Hz the models hear: band-limited "
                    "(telephone) audio is recognised less well; record at 16 kHz or more if you "
                    "can.", name, sample_rate, SAMPLE_RATE)
  if sample_rate != SAMPLE_RATE:
    x = soxr.resample(x, sample_rate, SAMPLE_RATE).astype(np.float32)
  if not allow_silent and float(np.max(np.abs(x))) < SILENCE_PEAK:
    raise AudioError(
        f"{name}: the audio is silent (peak {float(np.max(np.abs(x))):.1e} < {SILENCE_PEAK:g}); "
        "check the microphone or the file.")
  return x


def load_audio(path: str | os.PathLike, *, max_seconds: float = DEFAULT_MAX_SECONDS,
               allow_silent: bool = False, warn_band_limited: bool = True) -> np.ndarray:
  """Reads an audio file (wav, flac, ogg, ...) and returns float32 mono 16 kHz samples."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise AudioError(f"{path}: no such file; check the path.")
  if os.path.isdir(path):
    raise AudioError(f"{path}: is a folder, not an audio file.")
  if os.path.getsize(path) == 0:
    raise AudioError(f"{path}: the file is empty (0 bytes); record or export it again.")
  try:
    info = soundfile.info(path)
    _check_not_cut_short(path, info)
    if info.duration > max_seconds:
      raise AudioError(
          f"{path}: the audio is {info.duration:.1f} s long, over the {max_seconds:g} s limit; "
          f"cut it to the spoken words ({RAISE_LIMIT}).")
    data, sr = soundfile.read(path, dtype="float32", always_2d=False)
  except AudioError:
    raise
  except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, EOFError...
    raise AudioError(
        f"{path}: not a readable audio file ({type(e).__name__}: {e}); pass a wav/flac/ogg "
        "recording.") from e
  return prepare_waveform(data, sr, name=path, max_seconds=max_seconds, allow_silent=allow_silent,
                          warn_band_limited=warn_band_limited)


def _check_not_cut_short(path: str, info) -> None:
  """A WAV whose data chunk is shorter than its header says was cut off mid-copy or mid-write:
  libsndfile reads what is there without complaint, so the check is here. Streaming writers put
  a placeholder size (0 or ~4 GiB) in the header; those are not truncation."""
  match = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", info.extra_info, re.MULTILINE)
  if not match:
    return
  promised, held = int(match.group(1)), int(match.group(2))
  if held < promised < STREAMING_DATA_SIZE:
    promised_seconds = info.duration * promised / held if held else float("nan")
    raise AudioError(
        f"{path}: the file is cut short: its header promises {promised} bytes of audio "
        f"({promised_seconds:.2f} s) but it holds {held} ({info.duration:.2f} s); copy or "
        "export it again.")


def fit_length(x: np.ndarray, length: int = SAMPLE_RATE) -> np.ndarray:
  """Zero-pads or centre-crops to ``length`` samples (1 s clips for the keyword classifier)."""
  if x.shape[-1] >= length:
    start = (x.shape[-1] - length) // 2
    return x[..., start:start + length]
  pad = length - x.shape[-1]
  widths = [(0, 0)] * (x.ndim - 1) + [(pad // 2, pad - pad // 2)]
  return np.pad(x, widths)


def write_wav(path: str | os.PathLike, x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
  """Writes 16-bit PCM mono, the Speech Commands format."""
  soundfile.write(os.fspath(path), np.clip(x, -1.0, 1.0), sample_rate, subtype="PCM_16")
