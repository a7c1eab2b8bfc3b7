"""MFCC features: a librosa reference and a jitted, batched JAX version that matches it.

Both take 16 kHz clips (what :mod:`v2i_jax.audio` returns) and give time-major features
``[frames, n_mfcc]``. The chain is librosa's ``feature.mfcc`` with its defaults spelled out:

  (resample to ``sample_rate``) -> STFT (periodic Hann window of ``win_length`` centred in
  ``n_fft``, zero padding of ``n_fft // 2`` on both sides when ``center``) -> power spectrum ->
  Slaney mel filterbank -> ``power_to_db(ref=1, amin=1e-10, top_db)`` (the top-dB floor is taken
  per clip, as librosa does for one clip) -> orthonormal DCT-II, first ``n_mfcc`` rows.

Resampling (for the original code's 22050 Hz setting) is band-limited FFT resampling, the same as
``librosa.resample(res_type="fft")``, so reference and JAX see the same waveform.

The JAX path builds its window, filterbank and DCT matrix in numpy (tests check they equal
librosa's and scipy's), so inference does not pay librosa's multi-second import.

Tolerance (checked by tests/test_features.py and measured by benchmarks/mfcc.py): on speech-like
clips the JAX features differ from librosa's by at most ``MAX_ABS_DIFF`` (the features are in dB
after an orthonormal DCT, spanning several hundred units; measured: at most 1.3e-3 over 400 clips
of the espeak-ng data set, 22050 Hz presets; 4.5e-4 for the 16 kHz one). The
difference is float32 round-off: librosa runs its FFT in float32 too, but sums in another order.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from v2i_jax import audio
from v2i_jax.speech import embedding

# Largest |JAX - librosa| allowed on speech-like audio (dB units after the ortho DCT, whose
# coefficients span ~-900..+300). Float32 round-off in the FFT, mel sum and log gives ~1e-3;
# the margin covers other CPUs and GPUs (which run the matmuls at HIGHEST precision here).
MAX_ABS_DIFF = 5e-3
AMIN = 1e-10  # librosa.power_to_db's floor on power before the log.


@dataclasses.dataclass(frozen=True)
class MfccConfig:
  """How to turn a 16 kHz clip into MFCCs. Field names match the ``mfcc`` ConfigDict in configs.

  ``sample_rate`` is the rate the MFCCs are computed at; clips are resampled from 16 kHz to it
  when it differs (22050 reproduces ``librosa.load``'s default in the original code).
  ``clip_samples`` is the length (at 16 kHz) every clip is padded or cropped to.
  """
  sample_rate: int = audio.SAMPLE_RATE
  clip_samples: int = audio.SAMPLE_RATE
  n_mfcc: int = 40
  n_mels: int = 40
  n_fft: int = 512
  hop_length: int = 160
  win_length: int = 400
  fmin: float = 20.0
  fmax: float = 8000.0
  center: bool = True
  top_db: float = 80.0

  def __post_init__(self):
    problems = []
    if self.n_fft < 2 or self.win_length < 1 or self.win_length > self.n_fft:
      problems.append(f"need 1 <= win_length ({self.win_length}) <= n_fft ({self.n_fft})")
    if self.hop_length < 1:
      problems.append(f"hop_length must be >= 1, got {self.hop_length}")
    if not 1 <= self.n_mfcc <= self.n_mels:
      problems.append(f"need 1 <= n_mfcc ({self.n_mfcc}) <= n_mels ({self.n_mels})")
    if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
      problems.append(f"need 0 <= fmin ({self.fmin}) < fmax ({self.fmax}) <= sample_rate / 2 "
                      f"({self.sample_rate / 2})")
    if self.clip_samples < 1 or self.top_db <= 0:
      problems.append("clip_samples and top_db must be positive")
    if problems:
      raise ValueError("bad MFCC config: " + "; ".join(problems) + ".")

  @classmethod
  def from_any(cls, cfg: "MfccConfig | Mapping[str, Any]") -> "MfccConfig":
    """Accepts an MfccConfig, a dict or an ml_collections ConfigDict (e.g. ``config.mfcc``)."""
    return embedding.config_from_any(cls, cfg, "MFCC")

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @property
  def resampled_samples(self) -> int:
    """Clip length at ``sample_rate`` (librosa.resample's ``ceil``)."""
    return int(np.ceil(self.clip_samples * self.sample_rate / audio.SAMPLE_RATE))

  @property
  def num_frames(self) -> int:
    n = self.resampled_samples
    if self.center:
      return 1 + n // self.hop_length
    if n < self.n_fft:
      raise ValueError(f"a clip of {n} samples is shorter than n_fft={self.n_fft}; use center=True.")
    return 1 + (n - self.n_fft) // self.hop_length

  @property
  def feature_shape(self) -> tuple[int, int]:
    """``(frames, n_mfcc)`` of one clip."""
    return (self.num_frames, self.n_mfcc)


def mfcc_librosa(waveform_16k: np.ndarray, cfg: MfccConfig | Mapping[str, Any]) -> np.ndarray:
  """The reference: ``librosa.feature.mfcc`` of one 16 kHz clip, as float32 ``[frames, n_mfcc]``.

  The clip is padded/cropped to ``cfg.clip_samples`` first, like the JAX path.
  """
  import librosa  # Slow to import; only the reference and the constants need it.

  cfg = MfccConfig.from_any(cfg)
  y = audio.fit_length(np.asarray(waveform_16k, np.float32), cfg.clip_samples)
  if cfg.sample_rate != audio.SAMPLE_RATE:
    y = librosa.resample(y, orig_sr=audio.SAMPLE_RATE, target_sr=cfg.sample_rate, res_type="fft")
  # librosa.feature.mfcc's own chain, spelled out because it does not pass top_db through.
  mel = librosa.feature.melspectrogram(
      y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
      win_length=cfg.win_length, window="hann", center=cfg.center, pad_mode="constant",
      power=2.0, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, htk=False, norm="slaney")
  db = librosa.power_to_db(mel, ref=1.0, amin=AMIN, top_db=cfg.top_db)
  m = librosa.feature.mfcc(S=db, n_mfcc=cfg.n_mfcc, dct_type=2, norm="ortho")
  return np.ascontiguousarray(m.T, dtype=np.float32)


def _constants(cfg: MfccConfig) -> dict[str, np.ndarray]:
  """Window, mel filterbank and DCT matrix as float32, built in numpy (importing librosa takes
  seconds; tests check these equal librosa's)."""
  return {"window": hann_window(cfg.win_length, cfg.n_fft).astype(np.float32),
          "mel_t": mel_filterbank(cfg).T.astype(np.float32),
          "dct_t": dct_matrix(cfg.n_mels, cfg.n_mfcc).T.astype(np.float32)}


def hann_window(win_length: int, n_fft: int) -> np.ndarray:
  """``librosa.filters.get_window("hann", win_length)`` (periodic) centred in ``n_fft`` zeros."""
  window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
  left = (n_fft - win_length) // 2
  return np.pad(window, (left, n_fft - win_length - left))


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
  """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, log above."""
  hz = np.asarray(hz, np.float64)
  linear = hz * 3.0 / 200.0
  log = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) / (np.log(6.4) / 27.0)
  return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
  linear = mel * 200.0 / 3.0
  log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
  return np.where(mel >= 15.0, log, linear)


def mel_filterbank(cfg: MfccConfig) -> np.ndarray:
  """``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney")``:
  ``[n_mels, n_fft // 2 + 1]`` triangles scaled to equal area."""
  fft_hz = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate)
  mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(cfg.fmax), cfg.n_mels + 2))
  ramps = mel_hz[:, None] - fft_hz[None, :]
  widths = np.diff(mel_hz)
  rising = -ramps[:-2] / widths[:-1, None]
  falling = ramps[2:] / widths[1:, None]
  weights = np.maximum(0.0, np.minimum(rising, falling))
  return weights * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]


def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
  """Rows of the orthonormal DCT-II (``scipy.fft.dct(norm="ortho")``): ``[n_mfcc, n_mels]``."""
  k = np.arange(n_mfcc)[:, None]
  n = np.arange(n_mels)[None, :]
  basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) * np.sqrt(2.0 / n_mels)
  basis[0] /= np.sqrt(2.0)
  return basis


def _fft_resample(x: jax.Array, num: int) -> jax.Array:
  """``scipy.signal.resample(x, num)`` for real input and upsampling, batched on axis 0."""
  n = x.shape[-1]
  spectrum = jnp.fft.rfft(x, axis=-1)
  if n % 2 == 0 and num > n:
    # The unpaired Nyquist bin of the shorter signal is split over two bins when upsampling.
    spectrum = spectrum.at[:, n // 2].multiply(0.5)
  return jnp.fft.irfft(spectrum * (num / n), n=num, axis=-1).astype(jnp.float32)


def make_mfcc_fn(cfg: MfccConfig | Mapping[str, Any]) -> Callable[[jax.Array], jax.Array]:
  """A jitted ``[batch, clip_samples] float32 (16 kHz) -> [batch, frames, n_mfcc] float32``.

  Works on any leading batch size (one compilation per shape) and on a batch sharded over a
  mesh. For one clip: ``fn(fit_length(x, cfg.clip_samples)[None])[0]``.
  """
  cfg = MfccConfig.from_any(cfg)
  if cfg.sample_rate < audio.SAMPLE_RATE:
    raise ValueError(f"sample_rate {cfg.sample_rate} is below the clips' {audio.SAMPLE_RATE} Hz; "
                     "only upsampling (e.g. to 22050) is supported.")
  consts = _constants(cfg)
  frame_starts = np.arange(cfg.num_frames) * cfg.hop_length
  frame_index = frame_starts[:, None] + np.arange(cfg.n_fft)[None, :]  # [frames, n_fft]
  highest = jax.lax.Precision.HIGHEST  # GPUs would otherwise use TF32/bf16 passes.

  @jax.jit
  def mfcc(waveforms: jax.Array) -> jax.Array:
    if waveforms.ndim != 2 or waveforms.shape[1] != cfg.clip_samples:
      raise ValueError(f"expected waveforms shaped [batch, {cfg.clip_samples}], got "
                       f"{waveforms.shape}; fit clips with audio.fit_length first.")
    y = waveforms.astype(jnp.float32)
    if cfg.sample_rate != audio.SAMPLE_RATE:
      y = _fft_resample(y, cfg.resampled_samples)
    if cfg.center:
      y = jnp.pad(y, ((0, 0), (cfg.n_fft // 2, cfg.n_fft // 2)))
    frames = y[:, frame_index] * consts["window"]  # [batch, frames, n_fft]
    spectrum = jnp.fft.rfft(frames, axis=-1)
    power = jnp.real(spectrum) ** 2 + jnp.imag(spectrum) ** 2
    mel = jnp.matmul(power, consts["mel_t"], precision=highest)  # [batch, frames, n_mels]
    db = 10.0 * jnp.log10(jnp.maximum(mel, AMIN))  # ref = 1 -> subtracts 0.
    floor = jnp.max(db, axis=(1, 2), keepdims=True) - cfg.top_db
    db = jnp.maximum(db, floor)
    return jnp.matmul(db, consts["dct_t"], precision=highest)

  return mfcc


def normalize(features: np.ndarray | jax.Array, mean: np.ndarray,
              std: np.ndarray) -> np.ndarray | jax.Array:
  """Per-coefficient standardisation with the training split's statistics (``[..., n_mfcc]``)."""
  return (features - mean) / std



# A keyword model's clip front end: MFCCs, or the speech embedding (v2i_jax.speech.embedding).
FrontEndConfig = MfccConfig | embedding.EmbeddingConfig


def front_end_from_any(cfg: FrontEndConfig | Mapping[str, Any]) -> FrontEndConfig:
  """The front end a kws config's ``mfcc`` field (or a checkpoint's meta) describes: the speech
  embedding when its ``kind`` is ``"speech_embedding"``, MFCCs otherwise."""
  if isinstance(cfg, (MfccConfig, embedding.EmbeddingConfig)):
    return cfg
  values = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
  if values.get("kind") == embedding.KIND:
    return embedding.EmbeddingConfig.from_any(values)
  if "kind" in values:
    raise ValueError(f"unknown front end kind {values['kind']!r}; use kind="
                     f"{embedding.KIND!r} for the speech embedding, or no kind for MFCCs.")
  return MfccConfig.from_any(values)


def make_feature_fn(cfg: FrontEndConfig | Mapping[str, Any]) -> Callable[[jax.Array], jax.Array]:
  """A jitted ``[batch, clip_samples] (16 kHz) -> [batch, *cfg.feature_shape]`` for either
  front end (:func:`make_mfcc_fn` or :func:`v2i_jax.speech.embedding.make_embedding_fn`)."""
  cfg = front_end_from_any(cfg)
  if isinstance(cfg, embedding.EmbeddingConfig):
    return embedding.make_embedding_fn(cfg)
  return make_mfcc_fn(cfg)
