"""Captions to vectors: tokenise, look up each word, pool to [min, max] (paper §3.2).

A caption embedding is the element-wise minimum over its words' vectors concatenated with the
element-wise maximum, so it has ``2 * dim`` values (100 for GloVe 50-d, 600 for GoogleNews).
Words missing from the vocabulary are skipped and reported; a caption left with no known word
raises :class:`CaptionError`, or becomes zeros where the caller asks for that.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import re
import unicodedata
from typing import Sequence

import numpy as np
from gensim.models import KeyedVectors

# Bump when tokenize() changes, so caches of caption embeddings keyed by it are rebuilt.
TOKENIZER_VERSION = 2
ON_EMPTY = ("error", "zeros")
# Words gathered per pooling step: bounds the temporary [rows, words, dim] array.
_POOL_CHUNK_WORDS = 1 << 16
# Words offered in error messages when they are in the vocabulary.
_EXAMPLE_WORDS = ("cat", "dog", "red", "bird", "house", "five", "happy")

_POSSESSIVE = re.compile(r"(?<=\w)'s\b")
# Letters or digits of any script, with apostrophes inside ("o'clock"); hyphens, underscores and
# other punctuation separate words.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

logger = logging.getLogger(__name__)


class CaptionError(ValueError):
  """A caption that cannot be embedded; the message names the caption, the problem and a fix."""


@dataclasses.dataclass(frozen=True)
class CaptionEmbedding:
  """One caption's embedding and which of its words were used."""
  vector: np.ndarray          # float32 [2 * dim]: [min over words, max over words]
  known_words: tuple[str, ...]  # in caption order, repeats kept
  oov_words: tuple[str, ...]    # skipped: not in the vocabulary


@dataclasses.dataclass(frozen=True)
class EmbeddedCaptions:
  """Many captions' embeddings, with what was skipped."""
  vectors: np.ndarray                 # float32 [N, 2 * dim]
  has_known_word: np.ndarray          # bool [N]; False rows are zeros
  oov_counts: collections.Counter     # skipped word -> occurrences


def tokenize(caption: str) -> list[str]:
  """Lower-cases and splits a caption into words and numbers.

  Hyphens, underscores and punctuation separate words ("t-shirt" -> "t", "shirt";
  "cat_face" -> "cat", "face"); a possessive "'s" is dropped ("dog's" -> "dog") and other
  apostrophes inside a word are kept as ASCII "'" ("six o’clock" -> "six", "o'clock"; the
  look-up falls back to "dont" where "don't" is missing); digits stay tokens ("5 cats" -> "5",
  "cats"). Letters of any script are kept; symbols and emoji are dropped.
  """
  if not isinstance(caption, str):
    raise CaptionError(f"a caption must be a string, got {type(caption).__name__} {caption!r}.")
  text = unicodedata.normalize("NFC", caption).lower()
  if "'" in text or "’" in text:
    text = _POSSESSIVE.sub("", text.replace("’", "'"))
  return _TOKEN.findall(text)


def word_index(word: str, kv: KeyedVectors) -> int:
  """``word``'s row in ``kv``, trying it without apostrophes when missing; -1 if unknown."""
  index = kv.key_to_index.get(word, -1)
  if index < 0 and "'" in word:
    index = kv.key_to_index.get(word.replace("'", ""), -1)
  return index


def vocabulary_name(kv: KeyedVectors) -> str:
  """How messages name ``kv``'s vocabulary ("GloVe 6B 50-d"); set by ``vectors.load_vectors``."""
  return getattr(kv, "source_name", "word-vector")


def embed_caption(caption: str, kv: KeyedVectors, *, on_empty: str = "error") -> CaptionEmbedding:
  """Embeds one caption as [min, max] over the vectors of its known words.

  Args:
    caption: free text, e.g. "A red bird".
    kv: the word vectors.
    on_empty: what to do when no word of the caption is in the vocabulary (or it has no word):
      "error" raises :class:`CaptionError`; "zeros" returns a zero vector.
  """
  _check_on_empty(on_empty)
  words = tokenize(caption)
  rows = [word_index(w, kv) for w in words]
  known = tuple(w for w, row in zip(words, rows) if row >= 0)
  oov = tuple(w for w, row in zip(words, rows) if row < 0)
  if not known:
    if on_empty == "error":
      raise CaptionError(_no_known_word_message(caption, words, kv))
    return CaptionEmbedding(np.zeros(2 * kv.vector_size, np.float32), known, oov)
  vectors = kv.vectors[[row for row in rows if row >= 0]].astype(np.float32)
  pooled = np.concatenate([vectors.min(axis=0), vectors.max(axis=0)])
  return CaptionEmbedding(pooled, known, oov)


def embed_captions_with_report(captions: Sequence[str], kv: KeyedVectors) -> EmbeddedCaptions:
  """Embeds many captions at once; captions with no known word get zeros and are flagged.

  Vectorised: captions with the same number of known words are pooled together as one
  ``[rows, words, dim]`` gather and a min and max over the word axis (in bounded chunks), so
  the cost is mostly tokenising and the dictionary look-ups.
  """
  tokens = [tokenize(caption) for caption in captions]
  flat = list(itertools.chain.from_iterable(tokens))
  word_rows = np.fromiter(map(kv.key_to_index.get, flat, itertools.repeat(-1)), np.int64,
                          len(flat))
  for i in np.flatnonzero(word_rows < 0):  # few: only unknown words get the second try
    word_rows[i] = word_index(flat[i], kv)
  known = word_rows >= 0
  owner = np.repeat(np.arange(len(captions)), [len(t) for t in tokens])
  counts = np.bincount(owner[known], minlength=len(captions))
  known_rows = word_rows[known]
  starts = np.cumsum(counts) - counts
  dim = kv.vector_size
  out = np.zeros((len(captions), 2 * dim), np.float32)
  for length in np.unique(counts[counts > 0]):
    same_length = np.flatnonzero(counts == length)
    for chunk in np.array_split(same_length, -(-same_length.size * length // _POOL_CHUNK_WORDS)):
      rows = known_rows[starts[chunk][:, None] + np.arange(length)]
      vectors = np.asarray(kv.vectors[rows.ravel()], np.float32).reshape(len(chunk), length, dim)
      out[chunk, :dim] = vectors.min(axis=1)
      out[chunk, dim:] = vectors.max(axis=1)
  oov = collections.Counter(itertools.compress(flat, ~known))
  return EmbeddedCaptions(out, counts > 0, oov)


def embed_captions(captions: Sequence[str], kv: KeyedVectors, *,
                   on_empty: str = "error") -> np.ndarray:
  """Embeds many captions: float32 ``[len(captions), 2 * dim]``.

  Out-of-vocabulary words are skipped and logged once in a summary. ``on_empty`` is as in
  :func:`embed_caption`; with "error" the message names the first caption with no known word.
  """
  _check_on_empty(on_empty)
  report = embed_captions_with_report(captions, kv)
  if on_empty == "error" and not report.has_known_word.all():
    first = int(np.flatnonzero(~report.has_known_word)[0])
    raise CaptionError(f"caption {first}: " + _no_known_word_message(
        captions[first], tokenize(captions[first]), kv))
  if report.oov_counts:
    logger.info("%d distinct words (%d occurrences) are not in the %s vocabulary and were "
                "skipped; most frequent: %s", len(report.oov_counts),
                sum(report.oov_counts.values()), vocabulary_name(kv),
                ", ".join(w for w, _ in report.oov_counts.most_common(10)))
  return report.vectors


def nearest(query: str, kv: KeyedVectors, candidates: np.ndarray,
            k: int = 5) -> list[tuple[int, float]]:
  """The ``k`` rows of ``candidates`` (caption embeddings ``[M, 2 * dim]``) closest to ``query``.

  Cosine similarity between [min, max] embeddings, so a word with no image in a data set
  ("kitten") still maps to the images whose captions or class names are nearest ("cat face").
  Returns ``(row, cosine)`` pairs, best first.
  """
  candidates = np.asarray(candidates, np.float32)
  if candidates.ndim != 2 or candidates.shape[1] != 2 * kv.vector_size:
    raise CaptionError(
        f"candidates must be caption embeddings shaped [M, {2 * kv.vector_size}] for the "
        f"{vocabulary_name(kv)} vectors, got {candidates.shape}; embed them with the same vectors.")
  vector = embed_caption(query, kv).vector
  norms = np.linalg.norm(candidates, axis=1) * np.linalg.norm(vector)
  cosine = candidates @ vector / np.maximum(norms, 1e-12)
  order = np.argsort(-cosine, kind="stable")[:k]
  return [(int(i), float(cosine[i])) for i in order]


def nearest_labels(query: str, kv: KeyedVectors, labels: Sequence[str],
                   k: int = 5) -> list[tuple[str, float]]:
  """:func:`nearest` over short texts such as class names: ``(label, cosine)``, best first.

  Labels with no known word are left out.
  """
  report = embed_captions_with_report(labels, kv)
  rows = np.flatnonzero(report.has_known_word)
  if rows.size == 0:
    raise CaptionError(f"no label has a word in the {vocabulary_name(kv)} vocabulary; "
                       f"first labels: {list(labels[:5])}.")
  found = nearest(query, kv, report.vectors[rows], k)
  return [(labels[rows[i]], cosine) for i, cosine in found]


def _check_on_empty(on_empty: str) -> None:
  if on_empty not in ON_EMPTY:
    raise ValueError(f"on_empty={on_empty!r}; use one of {ON_EMPTY}.")


def _no_known_word_message(caption: str, words: list[str], kv: KeyedVectors) -> str:
  examples = [w for w in _EXAMPLE_WORDS if w in kv.key_to_index][:2]
  if not examples:
    examples = list(kv.index_to_key[:2])
  hint = (f"try plain English words such as {' or '.join(repr(w) for w in examples)}"
          if examples else "the vocabulary is empty; load other vectors")
  if not words:
    return f"the caption {caption!r} has no word to embed (it is empty or only punctuation); {hint}."
  return f"no word of {caption!r} is in the {vocabulary_name(kv)} vocabulary; {hint}."
