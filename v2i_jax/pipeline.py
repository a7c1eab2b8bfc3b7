"""Voice -> words -> caption embedding -> pictures: the three models joined.

  pipeline = Pipeline.restore("runs/quickstart/kws", "runs/quickstart/gan")
  result = pipeline(waveform, sample_rate)        # speech in
  result = pipeline.from_text("a happy dog")      # or text in
  result.images                                    # [n, 64, 64, 3] uint8
  result.caption, result.words                     # what was recognised and used

Restoring checks that the models fit each other: the GAN's caption embeddings must come from the
word vectors loaded here (source and dimension), and every word the keyword model can hear must
be in those vectors' vocabulary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any

import numpy as np

from v2i_jax import options
from v2i_jax import audio as audio_lib
from v2i_jax.image import sampling
from v2i_jax.image import train as gan_train
from v2i_jax.speech import recognizer as recognizer_lib
from v2i_jax.text import captions as captions_lib
from v2i_jax.text import vectors as vectors_lib

class PipelineError(ValueError):
  """Models that do not fit each other, or input the pipeline cannot turn into a picture."""


@dataclasses.dataclass(frozen=True)
class Result:
  images: np.ndarray  # [n, 64, 64, 3] uint8
  caption: str  # the words that were embedded, in order
  words: tuple[recognizer_lib.Segment, ...]  # recognised words (empty for text input)
  dropped: tuple[recognizer_lib.Segment, ...]  # recognised below the confidence threshold
  oov_words: tuple[str, ...]  # caption words the word vectors do not know (skipped)


@dataclasses.dataclass(frozen=True)
class Pipeline:
  """The keyword recogniser (optional: text-only pipelines have none), word vectors and GAN."""
  painter: sampling.Painter
  vectors: Any  # gensim KeyedVectors
  recognizer: recognizer_lib.Recognizer | None = None

  @classmethod
  def restore(cls, kws_workdir: str | None, gan_workdir: str,
              vectors: vectors_lib.VectorSource | None = None) -> "Pipeline":
    """Restores both models and checks that they fit each other.

    ``vectors``: the word vectors the GAN was trained with; None finds them when they are the
    default GloVe (other vectors need their file).
    """
    painter = sampling.Painter.restore(gan_workdir)
    stored = painter.embedding_source
    try:
      spec = (vectors_lib.spec_for(stored) if vectors is None else vectors)
      vectors_lib.check_source(stored, spec)
    except vectors_lib.VectorsError as e:
      raise PipelineError(f"the GAN in {gan_workdir} does not fit these word vectors: {e}") from e
    kv = vectors_lib.load_vectors(spec)
    if 2 * kv.vector_size != painter.embedding_dim:
      raise PipelineError(
          f"the GAN in {gan_workdir} expects {painter.embedding_dim}-d caption embeddings but "
          f"{vectors_lib.describe(spec)} gives {2 * kv.vector_size}-d ([min, max] of "
          f"{kv.vector_size}-d vectors); retrain the GAN or pass its vectors.")
    recognizer = None
    if kws_workdir is not None:
      recognizer = recognizer_lib.Recognizer.restore(kws_workdir)
      unknown = [w for w in recognizer.keywords if w not in kv.key_to_index]
      if unknown:
        raise PipelineError(
            f"the keyword model in {kws_workdir} hears words that {vectors_lib.describe(spec)} "
            f"cannot embed: {', '.join(unknown)}; train the keyword model on words in the "
            "vocabulary or use other word vectors.")
    return cls(painter=painter, vectors=kv, recognizer=recognizer)

  def __call__(self, waveform: np.ndarray, sample_rate: int, *, num_images: int = 8,
               seed: int = 0, min_probability: float = 0.0,
               max_seconds: float = audio_lib.DEFAULT_MAX_SECONDS) -> Result:
    """Speech in: every word recognised with ``probability >= min_probability`` goes into the
    caption, in the order spoken. ``seed``: 0 .. 2^31 - 1, ``num_images``: 1 .. 256 (checked
    before any work, :mod:`v2i_jax.options`); audio over ``max_seconds`` is refused."""
    if self.recognizer is None:
      raise PipelineError("this pipeline has no keyword model; restore it with a kws_workdir "
                          "or use from_text().")
    options.check_seed(seed)
    options.check_num_images(num_images)
    segments = self.recognizer.transcribe_segments(waveform, sample_rate,
                                                   max_seconds=max_seconds)
    kept = tuple(s for s in segments if s.probability >= min_probability)
    dropped = tuple(s for s in segments if s.probability < min_probability)
    if not kept:
      found = ", ".join(f"{s.word} ({s.probability:.2f})" for s in segments)
      raise recognizer_lib.RecognitionError(
          f"no word was recognised with probability >= {min_probability:g} (heard: {found}); "
          "speak more clearly, or lower the threshold.")
    result = self.from_text(" ".join(s.word for s in kept), num_images=num_images, seed=seed)
    return dataclasses.replace(result, words=kept, dropped=dropped)

  def from_text(self, caption: str, *, num_images: int = 8, seed: int = 0) -> Result:
    """Text in: the caption's [min, max] embedding -> ``num_images`` pictures (1 .. 256) of the
    latent vectors of ``seed`` (0 .. 2^31 - 1)."""
    seed = options.check_seed(seed)
    num_images = options.check_num_images(num_images)
    embedded = captions_lib.embed_caption(caption, self.vectors)  # CaptionError when unusable.
    images = self.painter.paint(embedded.vector, num_images, seed)
    return Result(images=images, caption=" ".join(embedded.known_words), words=(), dropped=(),
                  oov_words=embedded.oov_words)


def save_summary_figure(path: str, result: Result, *, waveform: np.ndarray | None = None,
                        mfcc: np.ndarray | None = None, title: str | None = None) -> str:
  """One PNG that tells the whole story of a phrase: the waveform (with the recognised words
  over their segments), its MFCCs, the words and probabilities, and the generated pictures."""
  check_png_path(path)
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  has_audio = waveform is not None
  n = len(result.images)
  cols = min(n, 8)
  rows = -(-n // cols)
  fig = plt.figure(figsize=(max(8, 1.3 * cols), (4.2 if has_audio else 0.6) + 1.35 * rows))
  grid = fig.add_gridspec(
      (2 if has_audio else 0) + rows, cols,
      height_ratios=([1.4, 1.4] if has_audio else []) + [1.2] * rows, hspace=0.7)
  if has_audio:
    ax = fig.add_subplot(grid[0, :])
    t = np.arange(waveform.size) / 16000
    ax.plot(t, waveform, lw=0.5, color="0.3")
    for s in result.words + result.dropped:
      kept = s in result.words
      ax.axvspan(s.start_seconds, s.end_seconds, color="tab:green" if kept else "tab:red",
                 alpha=0.15)
      ax.text((s.start_seconds + s.end_seconds) / 2, 0.92, f"{s.word} ({s.probability:.2f})",
              transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=10,
              color="darkgreen" if kept else "darkred")
    ax.set(xlim=(0, t[-1] if t.size else 1), xlabel="seconds", yticks=[])
    ax.set_title("waveform and recognised words (probability)", fontsize=10)
    if mfcc is not None:
      ax = fig.add_subplot(grid[1, :])
      ax.imshow(mfcc.T, aspect="auto", origin="lower", cmap="magma",
                extent=(0, waveform.size / 16000, -0.5, mfcc.shape[1] - 0.5))
      ax.set(xlabel="seconds", ylabel="coefficient / band")
      ax.set_title("the keyword model's spectral features (MFCCs, or log-mel bands under the "
                   "speech embedding)", fontsize=10)
  first = 2 if has_audio else 0
  for i in range(rows * cols):
    ax = fig.add_subplot(grid[first + i // cols, i % cols])
    ax.axis("off")
    if i < n:
      ax.imshow(result.images[i])
  fig.suptitle(title or f'caption: "{result.caption}"', fontsize=12)
  try:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with _naming(path):
      fig.savefig(path, dpi=90, bbox_inches="tight")
  finally:
    plt.close(fig)
  return path


def mfcc_of(recognizer: recognizer_lib.Recognizer, waveform: np.ndarray) -> np.ndarray:
  """The recogniser's MFCCs ``[frames, coefficients]`` of the whole of a 16 kHz waveform (as
  :func:`v2i_jax.audio.load_audio` returns it), for figures; the log-mel frames under a
  speech-embedding front end (its 96-d embeddings are no picture)."""
  from v2i_jax.speech import embedding
  from v2i_jax.speech import features
  x = np.asarray(waveform, np.float32)[None]
  if isinstance(recognizer.mfcc_cfg, embedding.EmbeddingConfig):
    x = np.pad(x, ((0, 0), (0, max(0, embedding.DFT_SIZE - x.shape[1]))))
    return np.asarray(embedding.log_mel(x, embedding.load_weights())[0])
  whole = dataclasses.replace(recognizer.mfcc_cfg, clip_samples=int(waveform.size))
  return np.asarray(features.make_mfcc_fn(whole)(x)[0])


def segment_dict(s: recognizer_lib.Segment) -> dict[str, Any]:
  return {"word": s.word, "probability": round(s.probability, 4),
          "start_seconds": round(s.start_seconds, 3), "end_seconds": round(s.end_seconds, 3)}


def save_grid(path: str, images: np.ndarray, columns: int = 8) -> str:
  """``[n, H, W, 3]`` uint8 -> one PNG grid with 2-pixel white gaps."""
  check_png_path(path)
  n = len(images)
  cols = min(columns, n)
  rows = -(-n // cols)
  padded = np.full((rows * cols,) + images.shape[1:], 255, np.uint8)
  padded[:n] = images
  with _naming(path):
    gan_train.save_png(path, gan_train.image_grid(padded.reshape(rows, cols, *images.shape[1:])))
  return path


def check_png_path(path: str) -> None:
  """Raises PipelineError unless ``path`` names a PNG file (checked before any slow work)."""
  if not os.fspath(path).lower().endswith(".png"):
    raise PipelineError(f"{path}: pictures are written as PNG; give a file name ending in .png.")


@contextlib.contextmanager
def _naming(path: str):
  """A failed write into an open file (disk full, quota) raises OSError without the file name;
  add it, so the message says which file could not be written."""
  try:
    yield
  except OSError as e:
    if e.filename or e.errno is None:
      raise
    raise OSError(e.errno, e.strerror, os.fspath(path)) from e
