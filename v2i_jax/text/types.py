"""The in-memory image-caption data set every reader produces and the GAN input consumes."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Sequence

import numpy as np


class CaptionDataError(ValueError):
  """An image-caption data set that does not have the agreed shape; the message says what."""


@dataclasses.dataclass(frozen=True)
class CaptionedImages:
  """Images with their captions (and classes, where the data set has them).

  Attributes:
    images: uint8 ``[N, H, W, 3]`` (64x64 for the GAN), RGB, values 0..255.
    captions: ``captions[i]`` lists one or more captions (plain text) of image ``i``.
    class_ids: int ``[N]`` indices into ``class_names``, or None when there are no classes
      (flickr30k). Where classes exist, a "wrong" caption is taken from another class.
    class_names: one name per class ("cat face"), or None.
  """
  images: np.ndarray
  captions: Sequence[Sequence[str]]
  class_ids: np.ndarray | None = None
  class_names: Sequence[str] | None = None

  def __post_init__(self):
    images = self.images
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
        or images.shape[-1] != 3:
      raise CaptionDataError(
          "images must be a uint8 array shaped [N, H, W, 3], got "
          f"{getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', '')}.")
    n = images.shape[0]
    if n == 0:
      raise CaptionDataError("the data set has no images.")
    if len(self.captions) != n:
      raise CaptionDataError(f"{n} images but {len(self.captions)} caption lists; give one list "
                             "of captions per image.")
    for i, caps in enumerate(self.captions):
      if isinstance(caps, str) or len(caps) == 0 or not all(isinstance(c, str) for c in caps):
        raise CaptionDataError(f"captions[{i}] = {caps!r}; each image needs a list of one or more "
                               "caption strings.")
    if (self.class_ids is None) != (self.class_names is None):
      raise CaptionDataError("give both class_ids and class_names, or neither.")
    if self.class_ids is not None:
      ids = np.asarray(self.class_ids)
      if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
        raise CaptionDataError(f"class_ids must be integers shaped ({n},), got {ids.dtype} "
                               f"{ids.shape}.")
      if ids.min() < 0 or ids.max() >= len(self.class_names):
        raise CaptionDataError(f"class_ids span {ids.min()}..{ids.max()} but there are "
                               f"{len(self.class_names)} class names.")

  @property
  def num_images(self) -> int:
    return int(self.images.shape[0])


@dataclasses.dataclass(frozen=True)
class CaptionedImageSet(CaptionedImages):
  """:class:`~v2i_jax.text.types.CaptionedImages` plus where each image came from."""
  ids: Sequence[str] = ()  # per image, e.g. "twemoji/1f431", "flickr30k/1000092795.jpg"

  def __post_init__(self):
    super().__post_init__()
    if len(self.ids) != self.num_images:
      raise CaptionDataError(f"{self.num_images} images but {len(self.ids)} ids.")

  def __len__(self) -> int:
    return self.num_images

  def subset(self, indices: Sequence[int] | np.ndarray) -> "CaptionedImageSet":
    """The images at ``indices`` (integers or a boolean mask), in that order."""
    indices = np.arange(len(self))[np.asarray(indices)]
    return CaptionedImageSet(
        images=self.images[indices],
        captions=[self.captions[i] for i in indices],
        class_ids=None if self.class_ids is None else self.class_ids[indices],
        class_names=self.class_names,
        ids=[self.ids[i] for i in indices])


def clean_text(text: str) -> str:
  """Underscores to spaces, runs of white space to one space, trimmed."""
  return re.sub(r"\s+", " ", text.replace("_", " ")).strip()


def split_of(key: str, test_percent: float, seed: int = 0) -> str:
  """"test" for a stable ``test_percent`` share of keys, else "train"."""
  digest = hashlib.sha1(f"{seed}:{key}".encode("utf-8")).hexdigest()
  return "test" if int(digest[:8], 16) % 10000 < test_percent * 100 else "train"
