"""The in-memory image-caption data set every reader produces and the GAN input consumes."""

from __future__ import annotations

import dataclasses
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
