r"""Stacks sample-grid PNGs (e.g. ``W/samples/step_002000.png`` of several runs) into one
figure with a title line above each, for the README.

  python benchmarks/stack_grids.py --out docs/gan_quick_steps.png \
      --grid "d_classes=36: cond. acc. 0.223=runs/exp/acgan/samples/step_002000.png" \
      --grid "+ L1 50: 0.53=runs/exp/proj_l1_50/samples/step_002000.png"
"""

import os

from absl import app
from absl import flags
import numpy as np
from PIL import Image, ImageDraw

_OUT = flags.DEFINE_string("out", None, "Where to write the stacked PNG.", required=True)
_GRIDS = flags.DEFINE_multi_string("grid", [], "TITLE=PATH of a PNG; repeat, top to bottom.")


def stack(grids: list[tuple[str, np.ndarray]], title_height: int = 16) -> np.ndarray:
  """[(title, HWC uint8)] -> one white-backed HWC uint8 image, each grid under its title."""
  width = max(g.shape[1] for _, g in grids)
  parts = []
  for title, grid in grids:
    header = Image.new("RGB", (width, title_height), "white")
    ImageDraw.Draw(header).text((4, 2), title, fill=(0, 0, 0))
    body = np.full((grid.shape[0], width, 3), 255, np.uint8)
    body[:, :grid.shape[1]] = grid[..., :3]
    parts += [np.asarray(header), body]
  return np.concatenate(parts)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}; pass grids with --grid TITLE=PATH.")
  grids = []
  for spec in _GRIDS.value:
    title, sep, path = spec.rpartition("=")
    if not sep or not os.path.isfile(path):
      raise app.UsageError(f"--grid {spec!r}: use TITLE=PATH with an existing PNG.")
    grids.append((title, np.asarray(Image.open(path).convert("RGB"))))
  if not grids:
    raise app.UsageError("pass at least one --grid TITLE=PATH.")
  Image.fromarray(stack(grids)).save(_OUT.value)
  print(_OUT.value)


if __name__ == "__main__":
  app.run(main)
