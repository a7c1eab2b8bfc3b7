"""Readers for real caption data from a folder the user downloaded (tfds ``manual_dir`` style):
flickr30k, CUB-200-2011 and Oxford-102 with Reed et al.'s captions, in the layouts
:data:`FLICKR30K_LAYOUT`, :data:`CUB_LAYOUT` and :data:`OXFORD102_LAYOUT` describe; a folder that
is missing or laid out otherwise gets a :class:`CaptionDataError` that quotes them. Every reader
returns a :class:`~v2i_jax.text.types.CaptionedImageSet` of ``uint8 [N, S, S, 3]`` images.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from typing import Sequence

import numpy as np
from PIL import Image

from v2i_jax.text.types import CaptionDataError, CaptionedImageSet, clean_text, split_of

logger = logging.getLogger(__name__)

FLICKR30K_LAYOUT = """flickr30k: a folder with the images and one captions file:
  <dir>/flickr30k_images/<name>.jpg   (or flickr30k_images/flickr30k_images/, Images/, images/)
  and one of
  <dir>/results.csv                   'image_name| comment_number| comment' (pipe-separated)
  <dir>/captions.txt                  'image,caption' (comma-separated, quoted as csv)
  <dir>/results_20130124.token        '<name>.jpg#<n><TAB><caption>'
  (the captions file may also sit inside flickr30k_images/)."""

CUB_LAYOUT = """CUB-200-2011 with Reed et al.'s captions:
  <dir>/CUB_200_2011/images/<class>/<image>.jpg   e.g. 001.Black_footed_Albatross/..._796111.jpg
  <dir>/text_c10/<class>/<image>.txt              10 captions, one a line (or <dir>/text/)
  optional: <dir>/CUB_200_2011/images.txt and train_test_split.txt (the official split)."""

OXFORD102_LAYOUT = """Oxford-102 flowers with Reed et al.'s captions:
  <dir>/jpg/image_<nnnnn>.jpg
  <dir>/text_c10/class_<nnnnn>/image_<nnnnn>.txt  10 captions, one a line (or <dir>/text/)."""

REAL_DATASETS = ("flickr30k", "cub", "oxford102")
_LAYOUTS = {"flickr30k": FLICKR30K_LAYOUT, "cub": CUB_LAYOUT, "oxford102": OXFORD102_LAYOUT}


def load_image(path: str, size: int) -> np.ndarray:
  """``uint8 [size, size, 3]``: the largest centred square of the image, resized."""
  try:
    with Image.open(path) as img:
      # JPEG decoding at a fraction of full size is many times faster and loses nothing here.
      img.draft("RGB", (2 * size, 2 * size))
      img = img.convert("RGB")
      w, h = img.size
      side = min(w, h)
      left, top = (w - side) // 2, (h - side) // 2
      img = img.crop((left, top, left + side, top + side))
      return np.asarray(img.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)
  except (OSError, ValueError) as e:
    raise CaptionDataError(f"{path}: cannot read this image ({e}).") from e


def _layout_error(dataset: str, folder: str, problem: str) -> CaptionDataError:
  return CaptionDataError(f"{folder}: {problem}. Expected {_LAYOUTS[dataset]}")


def _first_dir(folder: str, names: Sequence[str]) -> str | None:
  for name in names:
    path = os.path.join(folder, name)
    if os.path.isdir(path):
      return path
  return None


def _read_flickr_captions(path: str) -> dict[str, list[str]]:
  """Image file name -> captions, from any of the three flickr30k caption layouts."""
  rows = []  # (line number, [name, caption] or None when the line does not parse)
  with open(path, encoding="utf-8", newline="") as f:
    if path.endswith(".token"):
      for n, line in enumerate(f, 1):
        if not line.strip():
          continue
        fields = line.rstrip("\r\n").split("\t", 1)
        rows.append((n, [fields[0].split("#")[0], fields[1]] if len(fields) == 2 else None))
    elif path.endswith(".csv"):
      header = f.readline()
      if [h.strip() for h in header.split("|")] != ["image_name", "comment_number", "comment"]:
        raise CaptionDataError(f"{path}: the first line is {header.strip()!r}, expected "
                               "'image_name| comment_number| comment'.")
      for n, line in enumerate(f, 2):
        if not line.strip():
          continue
        fields = line.rstrip("\r\n").split("|", 2)
        rows.append((n, [fields[0], fields[2]] if len(fields) == 3 else None))
    else:
      reader = csv.reader(f)
      header = next(reader, [])
      if [h.strip() for h in header] != ["image", "caption"]:
        raise CaptionDataError(f"{path}: the first line is {','.join(header)!r}, expected "
                               "'image,caption'.")
      for fields in reader:
        if not "".join(fields).strip():
          continue
        # A caption with an unquoted comma spreads over several fields.
        rows.append((reader.line_num,
                     [fields[0], ",".join(fields[1:])] if len(fields) >= 2 else None))
  out: dict[str, list[str]] = {}
  bad_lines = []
  for n, fields in rows:
    if fields is None or not fields[0].strip() or not fields[1].strip():
      bad_lines.append(n)
      continue
    out.setdefault(fields[0].strip(), []).append(fields[1].strip())
  if bad_lines:
    # The public results.csv has a line without its second separator; skip it, don't give up.
    logger.warning("%s: skipped %d malformed line(s), first at line %d.", path, len(bad_lines),
                   bad_lines[0])
  return out


def read_flickr30k(folder: str, split: str = "train", image_size: int = 64,
                   test_percent: float = 5.0) -> CaptionedImageSet:
  """flickr30k from ``folder`` (see :data:`FLICKR30K_LAYOUT`); split by a hash of the file name."""
  if not os.path.isdir(folder):
    raise _layout_error("flickr30k", folder, "no such folder")
  image_dir = _first_dir(folder, ("flickr30k_images/flickr30k_images", "flickr30k_images",
                                  "Images", "images"))
  if image_dir is None:
    raise _layout_error("flickr30k", folder, "no image folder")
  candidates = [os.path.join(d, n) for d in (folder, os.path.join(folder, "flickr30k_images"))
                for n in ("results.csv", "captions.txt", "results_20130124.token")]
  caption_file = next((p for p in candidates if os.path.isfile(p)), None)
  if caption_file is None:
    raise _layout_error("flickr30k", folder, "no captions file")
  captions = _read_flickr_captions(caption_file)
  if not captions:
    raise _layout_error("flickr30k", folder, f"{caption_file} holds no caption")
  names = sorted(n for n in captions if split in ("all", split_of(n, test_percent)))
  present = [n for n in names if os.path.isfile(os.path.join(image_dir, n))]
  if len(present) < len(names):
    logger.warning("%s: %d of %d captioned images are missing; using the rest.", image_dir,
                   len(names) - len(present), len(names))
  if not present and names:
    raise _layout_error("flickr30k", folder,
                        f"none of the images named in {caption_file} is in {image_dir}")
  images = _load_images([os.path.join(image_dir, n) for n in present], image_size, "flickr30k")
  _check_not_empty(present, "flickr30k", folder, split)
  return CaptionedImageSet(images=images, captions=[captions[n] for n in present],
                           ids=[f"flickr30k/{n}" for n in present])


def _read_text_c10(path: str) -> list[str]:
  with open(path, encoding="utf-8", errors="replace") as f:
    return [line.strip() for line in f if line.strip()]


def _class_name(folder_name: str) -> str:
  """``001.Black_footed_Albatross`` -> ``black footed albatross``; ``class_00001`` stays."""
  return clean_text(re.sub(r"^\d+\.", "", folder_name)).lower()


def read_cub(folder: str, split: str = "train", image_size: int = 64,
             test_percent: float = 10.0) -> CaptionedImageSet:
  """CUB-200-2011 birds with Reed et al.'s ``text_c10`` captions (see :data:`CUB_LAYOUT`).

  The split is CUB's own ``train_test_split.txt`` when present, else a hash of the file name.
  """
  if not os.path.isdir(folder):
    raise _layout_error("cub", folder, "no such folder")
  image_root = os.path.join(folder, "CUB_200_2011", "images")
  if not os.path.isdir(image_root):
    raise _layout_error("cub", folder, "no CUB_200_2011/images folder")
  text_root = _first_dir(folder, ("text_c10", "text"))
  if text_root is None:
    raise _layout_error("cub", folder, "no text_c10 folder of captions")
  official = _cub_official_split(os.path.join(folder, "CUB_200_2011"))
  classes = sorted(d for d in os.listdir(image_root) if os.path.isdir(os.path.join(image_root, d)))
  if not classes:
    raise _layout_error("cub", folder, f"{image_root} has no class folders")
  paths, captions, class_ids, ids = [], [], [], []
  for class_id, cls in enumerate(classes):
    for name in sorted(os.listdir(os.path.join(image_root, cls))):
      if not name.lower().endswith(".jpg"):
        continue
      rel = f"{cls}/{name}"
      image_split = official.get(rel) if official else split_of(rel, test_percent)
      if split not in ("all", image_split):
        continue
      text_path = os.path.join(text_root, cls, name[:-4] + ".txt")
      if not os.path.isfile(text_path):
        raise _layout_error("cub", folder, f"{text_path} is missing (captions of {rel})")
      lines = _read_text_c10(text_path)
      if not lines:
        raise _layout_error("cub", folder, f"{text_path} holds no caption")
      paths.append(os.path.join(image_root, cls, name))
      captions.append(lines)
      class_ids.append(class_id)
      ids.append(f"cub/{rel}")
  _check_not_empty(paths, "cub", folder, split)
  return CaptionedImageSet(images=_load_images(paths, image_size, "cub"), captions=captions,
                           class_ids=np.asarray(class_ids, np.int32),
                           class_names=tuple(_class_name(c) for c in classes), ids=ids)


def _cub_official_split(cub_dir: str) -> dict[str, str] | None:
  images_txt = os.path.join(cub_dir, "images.txt")
  split_txt = os.path.join(cub_dir, "train_test_split.txt")
  if not (os.path.isfile(images_txt) and os.path.isfile(split_txt)):
    return None
  with open(images_txt) as f:
    paths = dict(line.split() for line in f if line.strip())
  with open(split_txt) as f:
    is_train = dict(line.split() for line in f if line.strip())
  return {p: "train" if is_train.get(i) == "1" else "test" for i, p in paths.items()}


def read_oxford102(folder: str, split: str = "train", image_size: int = 64,
                   test_percent: float = 10.0) -> CaptionedImageSet:
  """Oxford-102 flowers with Reed et al.'s captions (see :data:`OXFORD102_LAYOUT`)."""
  if not os.path.isdir(folder):
    raise _layout_error("oxford102", folder, "no such folder")
  image_dir = os.path.join(folder, "jpg")
  if not os.path.isdir(image_dir):
    raise _layout_error("oxford102", folder, "no jpg folder")
  text_root = _first_dir(folder, ("text_c10", "text"))
  if text_root is None:
    raise _layout_error("oxford102", folder, "no text_c10 folder of captions")
  classes = sorted(d for d in os.listdir(text_root) if d.startswith("class_"))
  if not classes:
    raise _layout_error("oxford102", folder, f"{text_root} has no class_<nnnnn> folders")
  paths, captions, class_ids, ids = [], [], [], []
  for class_id, cls in enumerate(classes):
    for name in sorted(os.listdir(os.path.join(text_root, cls))):
      if not name.endswith(".txt") or split not in ("all", split_of(name, test_percent)):
        continue
      image_path = os.path.join(image_dir, name[:-4] + ".jpg")
      if not os.path.isfile(image_path):
        raise _layout_error("oxford102", folder, f"{image_path} is missing (captioned in {cls})")
      lines = _read_text_c10(os.path.join(text_root, cls, name))
      if not lines:
        raise _layout_error("oxford102", folder, f"{cls}/{name} holds no caption")
      paths.append(image_path)
      captions.append(lines)
      class_ids.append(class_id)
      ids.append(f"oxford102/{name[:-4]}.jpg")
  _check_not_empty(paths, "oxford102", folder, split)
  return CaptionedImageSet(images=_load_images(paths, image_size, "oxford102"), captions=captions,
                           class_ids=np.asarray(class_ids, np.int32),
                           class_names=tuple(classes), ids=ids)


def _check_not_empty(items: Sequence, dataset: str, folder: str, split: str) -> None:
  if not items:
    raise _layout_error(dataset, folder, f"the {split!r} split has no captioned image")


def _load_images(paths: Sequence[str], size: int, desc: str) -> np.ndarray:
  from v2i_jax.training.loop import progress
  out = np.empty((len(paths), size, size, 3), np.uint8)
  bar = progress(total=len(paths), desc=f"load {desc}") if len(paths) > 1000 else None
  for i, path in enumerate(paths):
    out[i] = load_image(path, size)
    if bar is not None:
      bar.update(1)
  if bar is not None:
    bar.close()
  return out


def detect_layout(folder: str) -> str:
  """Which of :data:`REAL_DATASETS` the folder holds, from its top-level names."""
  if not os.path.isdir(folder):
    raise CaptionDataError(f"{folder}: no such folder; give 'emoji' or a folder with one of "
                           f"these layouts.\n" + "\n".join(_LAYOUTS.values()))
  names = set(os.listdir(folder))
  if "CUB_200_2011" in names:
    return "cub"
  if "jpg" in names and names & {"text_c10", "text"}:
    return "oxford102"
  if names & {"flickr30k_images", "results.csv", "captions.txt", "results_20130124.token"}:
    return "flickr30k"
  raise CaptionDataError(f"{folder}: not a caption data set folder I know; expected one of:\n" +
                         "\n".join(_LAYOUTS.values()))


def load_real_dataset(name_or_dir: str, split: str, manual_dir: str | None = None,
                      image_size: int = 64) -> CaptionedImageSet:
  """One split of "flickr30k" / "cub" / "oxford102" read from ``manual_dir``, or of a folder in
  one of their layouts (detected)."""
  if name_or_dir in REAL_DATASETS:
    if manual_dir is None:
      raise ValueError(f"{name_or_dir} needs manual_dir=<the folder you downloaded>. "
                       f"Expected {_LAYOUTS[name_or_dir]}")
    dataset, folder = name_or_dir, manual_dir
  else:
    dataset, folder = detect_layout(name_or_dir), name_or_dir
  reader = {"flickr30k": read_flickr30k, "cub": read_cub, "oxford102": read_oxford102}[dataset]
  return reader(folder, split, image_size)
