"""GAN input: (image in [-1, 1], right caption embedding, wrong caption embedding) batches.

Caption embeddings are computed once per (word vectors, captions) and cached on disk as a plain
``.npz`` (read back with ``allow_pickle=False``). Batches are a pure function of (seed, step):
step ``s`` of epoch ``s // steps_per_epoch`` takes its images from that epoch's seeded
permutation, so a run resumed at step ``s`` sees exactly the batches an uninterrupted run would.

The "wrong" caption of an image is a real caption of another image — of another class where the
data set has classes — and never a caption whose text is also one of the image's own captions
(GAN-CLS, Reed et al. 2016; the paper's code used noise instead).

TensorFlow is imported only by :meth:`GanInput.tf_dataset`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import zipfile
from typing import Iterator

import numpy as np

from v2i_jax.text import captions as captions_lib
from v2i_jax.text import vectors as vectors_lib
from v2i_jax.text.types import CaptionDataError, CaptionedImages

logger = logging.getLogger(__name__)
# Rejection rounds for the wrong caption before falling back to an exact draw from the allowed set.
_WRONG_REJECTION_ROUNDS = 16


@dataclasses.dataclass(frozen=True)
class CaptionEmbeddings:
  """Every usable caption's [min, max] embedding, grouped by image.

  Image ``i``'s captions are rows ``first[i] : first[i] + count[i]`` of ``vectors``; captions
  with no word in the vocabulary are left out, so ``count[i]`` can be 0 (such images are skipped).
  """
  vectors: np.ndarray   # float32 [M, 2 * dim]
  first: np.ndarray     # int64 [N]
  count: np.ndarray     # int64 [N]
  source_id: str        # vectors.source_id of the word vectors used
  key: str              # source_id + captions digest + tokenizer version: the cache key

  @property
  def embedding_dim(self) -> int:
    return int(self.vectors.shape[1])


def captions_digest(data: CaptionedImages) -> str:
  """sha256 of the captions, grouped by image: part of the embedding cache key."""
  text = json.dumps([list(caps) for caps in data.captions], ensure_ascii=False)
  return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_dataset(data: CaptionedImages, spec: vectors_lib.VectorSource | None = None,
                  cache_dir: str | None = None) -> CaptionEmbeddings:
  """Embeds all captions of ``data`` with ``spec``'s vectors (default GloVe), cached on disk.

  With ``cache_dir`` the result is stored there as
  ``caption_embeddings-<source>-<digest>.npz`` and later calls with the same vectors and captions
  read it back without loading the word vectors. Captions with no known word are dropped (and
  counted in the log); an image left with no caption is skipped by :class:`GanInput`.
  """
  spec = vectors_lib.VectorSource.glove50() if spec is None else spec
  source = vectors_lib.source_id(spec)
  key = f"{source}|{captions_digest(data)}|tokenizer{captions_lib.TOKENIZER_VERSION}"
  path = None
  if cache_dir is not None:
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", source)[:80]
    path = os.path.join(cache_dir, f"caption_embeddings-{slug}-"
                        f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz")
    cached = _read_cache(path, key)
    if cached is not None:
      return cached

  kv = vectors_lib.load_vectors(spec)
  flat = [c for caps in data.captions for c in caps]
  report = captions_lib.embed_captions_with_report(flat, kv)
  if not report.has_known_word.any():
    raise captions_lib.CaptionError(
        f"no caption of the data set has a word in the {captions_lib.vocabulary_name(kv)} "
        f"vocabulary (first caption: {flat[0]!r}); check the captions or use vectors trained on "
        "them (VectorSource.trained).")
  dropped = int((~report.has_known_word).sum())
  if dropped or report.oov_counts:
    logger.warning(
        "%d of %d captions have no word in the %s vocabulary and are left out; %d distinct "
        "words were skipped, most frequent: %s", dropped, len(flat),
        captions_lib.vocabulary_name(kv), len(report.oov_counts),
        ", ".join(w for w, _ in report.oov_counts.most_common(10)))
  per_image = np.asarray([len(caps) for caps in data.captions])
  owner = np.repeat(np.arange(data.num_images), per_image)
  kept_owner = owner[report.has_known_word]
  count = np.bincount(kept_owner, minlength=data.num_images).astype(np.int64)
  first = (np.cumsum(count) - count).astype(np.int64)
  embeddings = CaptionEmbeddings(report.vectors[report.has_known_word], first, count, source, key)
  if path is not None:
    _write_cache(path, embeddings)
  return embeddings


def _read_cache(path: str, key: str) -> CaptionEmbeddings | None:
  if not os.path.exists(path):
    return None
  try:
    with np.load(path, allow_pickle=False) as f:
      if str(f["key"]) != key:
        return None
      return CaptionEmbeddings(f["vectors"], f["first"], f["count"], str(f["source_id"]), key)
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
    logger.warning("ignoring unreadable caption-embedding cache %s (%s); recomputing.", path, e)
    return None


def _write_cache(path: str, embeddings: CaptionEmbeddings) -> None:
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = f"{path}.tmp-{os.getpid()}.npz"
  np.savez(tmp, vectors=embeddings.vectors, first=embeddings.first, count=embeddings.count,
           source_id=np.str_(embeddings.source_id), key=np.str_(embeddings.key))
  os.replace(tmp, path)  # atomic: a crash never leaves half a cache behind


class GanInput:
  """Seeded, resumable batches of (image, right embedding, wrong embedding).

  ``batch(step)`` depends only on (data, embeddings, batch_size, seed, step). Each epoch visits
  every usable image once in a seeded order; the last partial batch of an epoch is dropped.
  With several processes, process ``p`` of ``P`` gets rows ``[p * B / P, (p + 1) * B / P)`` of
  that global batch (all choices are made for the whole batch, then sliced), so the global
  batch of a step does not depend on the number of processes.
  """

  def __init__(self, data: CaptionedImages, embeddings: CaptionEmbeddings, *, batch_size: int,
               seed: int = 0, random_flip: bool = False, process_index: int = 0,
               process_count: int = 1, repeats: np.ndarray | None = None):
    """
    Args:
      data: the images (and classes).
      embeddings: :func:`embed_dataset` of the same data.
      batch_size: images per global batch (over all processes).
      seed: fixes the image order, the caption choices and the flips.
      random_flip: mirror half the images left-right (fine for birds or photos; wrong for
        emoji such as arrows, whose meaning changes).
      process_index: this process's index (``jax.process_index()``).
      process_count: how many processes share each batch (``jax.process_count()``).
      repeats: optional int ``[num_images]``: how many times each image appears per epoch
        (e.g. > 1 for the keyword images a voice -> image model must draw best); default 1.
    """
    if embeddings.first.shape != (data.num_images,):
      raise CaptionDataError(f"the caption embeddings are for {embeddings.first.shape[0]} images "
                             f"but the data set has {data.num_images}; embed this data set.")
    self.data = data
    self.embeddings = embeddings
    self.batch_size = int(batch_size)
    self.seed = int(seed)
    self.random_flip = random_flip
    if self.seed < 0:
      raise CaptionDataError(f"seed={seed}; use a non-negative integer.")
    if self.batch_size <= 0:
      raise CaptionDataError(f"batch_size={batch_size}; use a positive number of images.")
    if process_count < 1 or not 0 <= process_index < process_count:
      raise CaptionDataError(f"process_index={process_index} is not in 0 .. process_count - 1 = "
                             f"{process_count - 1}.")
    if self.batch_size % process_count:
      raise CaptionDataError(f"batch_size={batch_size} is not divisible by the {process_count} "
                             f"processes; use a multiple of {process_count}.")
    local = self.batch_size // process_count
    self.rows = slice(process_index * local, (process_index + 1) * local)
    self.usable = np.flatnonzero(embeddings.count > 0)
    if self.usable.size < 2 or self.usable.size < self.batch_size:
      raise CaptionDataError(
          f"{self.usable.size} images have a usable caption but a batch needs {self.batch_size} "
          "(and wrong captions need at least 2); use a smaller batch or a larger data set.")
    if repeats is None:
      self._epoch_items = self.usable
    else:
      repeats = np.asarray(repeats)
      if repeats.shape != (data.num_images,) or (repeats < 0).any():
        raise CaptionDataError(f"repeats must be {data.num_images} non-negative ints, one per "
                               f"image; got shape {repeats.shape}.")
      self._epoch_items = np.repeat(self.usable, repeats[self.usable])
      if self._epoch_items.size < self.batch_size:
        raise CaptionDataError(f"repeats leave {self._epoch_items.size} images per epoch, fewer "
                               f"than a batch of {self.batch_size}.")
    self.steps_per_epoch = self._epoch_items.size // self.batch_size
    classes = None if data.class_ids is None else np.asarray(data.class_ids)
    # Where every usable image shares one class, "another class" is impossible: fall back to
    # "another image".
    self._classes = (classes if classes is not None and np.unique(classes[self.usable]).size > 1
                     else None)
    # Rows with the same embedding are the same caption text (as far as the vectors can tell).
    # Hashing each row's bytes is ~20x faster than np.unique(axis=0) at 600-d; a collision would
    # only cost an extra redraw.
    contiguous = np.ascontiguousarray(embeddings.vectors)
    row_hashes = np.fromiter(map(hash, map(bytes, contiguous)), np.int64, len(contiguous))
    _, text_key = np.unique(row_hashes, return_inverse=True)
    self._text_key = text_key.reshape(-1)
    max_count = int(embeddings.count.max())
    rows = embeddings.first[:, None] + np.arange(max_count)[None, :]
    valid = np.arange(max_count)[None, :] < embeddings.count[:, None]
    self._own_text_keys = np.where(valid, self._text_key[np.minimum(rows, len(text_key) - 1)], -1)

  @property
  def embedding_dim(self) -> int:
    return self.embeddings.embedding_dim

  def indices(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image index, right caption row, wrong caption row), each int64 ``[batch_size]``."""
    if step < 0:
      raise ValueError(f"step {step} is negative.")
    epoch, position = divmod(int(step), self.steps_per_epoch)
    order = np.random.default_rng([self.seed, epoch, 0]).permutation(self._epoch_items)
    images = order[position * self.batch_size:(position + 1) * self.batch_size]
    rng = np.random.default_rng([self.seed, int(step), 1])
    emb = self.embeddings
    right = emb.first[images] + rng.integers(0, emb.count[images])
    wrong_images = self._wrong_images(images, rng)
    wrong = emb.first[wrong_images] + rng.integers(0, emb.count[wrong_images])
    # A different image (or class) can still carry the same caption text; draw again for those.
    for _ in range(_WRONG_REJECTION_ROUNDS):
      clash = self._shares_text(images, wrong)
      if not clash.any():
        break
      redraw = self._wrong_images(images[clash], rng)
      wrong[clash] = emb.first[redraw] + rng.integers(0, emb.count[redraw])
    else:
      wrong = self._exact_wrong(images, wrong, rng)
    return images, right, wrong

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's rows of the batch at ``step`` (all of it with one process): 'image'
    float32 [B, H, W, 3] in [-1, 1], 'embedding' and 'wrong_embedding' float32 [B, 2 * dim],
    'image_index' int32 [B]."""
    images, right, wrong = (a[self.rows] for a in self.indices(step))
    pixels = self.data.images[images].astype(np.float32) / 127.5 - 1.0
    if self.random_flip:
      flip = np.random.default_rng([self.seed, int(step), 2]).random(self.batch_size) < 0.5
      flip = flip[self.rows]
      pixels[flip] = pixels[flip, :, ::-1]
    return {"image": pixels, "embedding": self.embeddings.vectors[right],
            "wrong_embedding": self.embeddings.vectors[wrong],
            "image_index": images.astype(np.int32)}

  def batches(self, start_step: int = 0, num_steps: int | None = None
              ) -> Iterator[dict[str, np.ndarray]]:
    """Batches for steps ``start_step, start_step + 1, ...`` (forever when num_steps is None)."""
    step = start_step
    while num_steps is None or step < start_step + num_steps:
      yield self.batch(step)
      step += 1

  def tf_dataset(self, start_step: int = 0, num_steps: int | None = None):
    """:meth:`batches` as a prefetched ``tf.data.Dataset`` (TensorFlow is imported here)."""
    import tensorflow as tf
    height, width = self.data.images.shape[1:3]
    dim = self.embedding_dim
    rows = self.rows.stop - self.rows.start
    signature = {
        "image": tf.TensorSpec((rows, height, width, 3), tf.float32),
        "embedding": tf.TensorSpec((rows, dim), tf.float32),
        "wrong_embedding": tf.TensorSpec((rows, dim), tf.float32),
        "image_index": tf.TensorSpec((rows,), tf.int32),
    }
    dataset = tf.data.Dataset.from_generator(lambda: self.batches(start_step, num_steps),
                                             output_signature=signature)
    return dataset.prefetch(tf.data.AUTOTUNE)

  def _wrong_images(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each image, a random usable image of another class (or just another image)."""
    wrong = self.usable[rng.integers(0, self.usable.size, images.size)]
    for _ in range(_WRONG_REJECTION_ROUNDS):
      bad = self._same_group(images, wrong)
      if not bad.any():
        return wrong
      wrong[bad] = self.usable[rng.integers(0, self.usable.size, int(bad.sum()))]
    # A class holding most of the images makes rejection slow: draw exactly from the allowed set.
    for i in np.flatnonzero(self._same_group(images, wrong)):
      allowed = self.usable[~self._same_group(np.full(self.usable.size, images[i]), self.usable)]
      if allowed.size == 0:
        raise CaptionDataError(f"image {images[i]} has no image of another class to take a "
                               "wrong caption from.")
      wrong[i] = rng.choice(allowed)
    return wrong

  def _same_group(self, images: np.ndarray, others: np.ndarray) -> np.ndarray:
    if self._classes is None:
      return images == others
    return self._classes[images] == self._classes[others]

  def _shares_text(self, images: np.ndarray, caption_rows: np.ndarray) -> np.ndarray:
    return (self._own_text_keys[images] == self._text_key[caption_rows][:, None]).any(axis=1)

  def _exact_wrong(self, images: np.ndarray, wrong: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Wrong caption rows drawn from exactly the allowed rows, for the few rejection missed."""
    emb = self.embeddings
    owner = np.repeat(np.arange(self.data.num_images), emb.count)
    for i in np.flatnonzero(self._shares_text(images, wrong)):
      allowed_rows = np.flatnonzero(
          ~self._same_group(np.full(owner.size, images[i]), owner)
          & ~np.isin(self._text_key, self._own_text_keys[images[i]]))
      if allowed_rows.size == 0:
        raise CaptionDataError(
            f"every caption of every other image of the data set repeats a caption of image "
            f"{images[i]}; wrong captions need different text.")
      wrong[i] = rng.choice(allowed_rows)
    return wrong
