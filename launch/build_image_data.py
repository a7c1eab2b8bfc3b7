"""Builds the default image-caption set (emoji from installed packages) and draws a contact sheet.

  python -m launch.build_image_data --config=configs/image_data.py \
      --contact_sheet=docs/emoji_contact_sheet.png

A set already built with the same settings and package versions is reused, not rebuilt.
"""

import collections
import os
import time

from absl import app
from absl import flags
from ml_collections import config_flags
import numpy as np

from launch import cli
from v2i_jax.image import data

_CONFIG = config_flags.DEFINE_config_file("config", lock_config=True)
_CONTACT_SHEET = flags.DEFINE_string(
    "contact_sheet", None, "PNG path for the contact sheet (default: beside the built data).")
_SHEET_IMAGES = flags.DEFINE_integer("sheet_images", 64, "Images on the contact sheet.")


def main(argv):
  del argv
  config = _CONFIG.value
  try:
    builder, build_seconds = data.prepare_emoji_dataset(config)
    start = time.perf_counter()
    every = data.load_caption_dataset("emoji", "all", config=config)
    read_seconds = time.perf_counter() - start
  except (data.CaptionDataError, ValueError, OSError) as e:
    cli.exit_with_error(e)
  split_of = np.asarray([data.split_of(i, config.test_percent, config.split_seed)
                         for i in every.ids])

  print(f"data: {builder.data_dir}")
  if build_seconds:
    print(f"built in {build_seconds:.1f} s")
  else:
    print(f"already built with these settings (delete {builder.data_dir} to rebuild)")
  print(f"read back in {read_seconds:.1f} s (TensorFlow start-up included)")
  for name in ("train", "test"):
    part = every.subset(split_of == name)
    per_source = collections.Counter(i.split("/")[0] for i in part.ids)
    print(f"{name}: {len(part)} images ({', '.join(f'{s} {n}' for s, n in per_source.items())}), "
          f"{sum(1 for n in data.keyword_coverage(part).values() if n)} keywords")
  counts = [len(c) for c in every.captions]
  print(f"captions: {sum(counts)} ({sum(counts) / len(counts):.2f} per image, "
        f"{min(counts)} to {max(counts)}); emoji: {len({i.split('/')[1] for i in every.ids})}")
  coverage = data.keyword_coverage(every)
  covered = [w for w, n in coverage.items() if n]
  print(f"{len(covered)} of {len(data.KEYWORDS)} Speech Commands words have images: " +
        ", ".join(f"{w} {n}" for w, n in coverage.items() if n))
  missing = [w for w, n in coverage.items() if not n]
  if missing:
    print(f"words without an image: {', '.join(missing)}")

  path = _CONTACT_SHEET.value or os.path.join(builder.data_dir, "contact_sheet.png")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  indices = data.contact_sheet_indices(every, _SHEET_IMAGES.value,
                                       lead_classes=len(data.KEYWORDS), seed=config.split_seed)
  # A 256-colour palette keeps the PNG small enough to live in the repository.
  data.contact_sheet(every, indices).quantize(256).save(path, optimize=True)
  print(f"contact sheet: {path} ({os.path.getsize(path) // 1024} KB)")


def run():
  """The ``v2i-build-image-data`` console command (``python -m launch.build_image_data``)."""
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
