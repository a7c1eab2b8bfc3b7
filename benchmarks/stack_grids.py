r"""Stacks sample-grid PNGs (e.g. ``W/samples/step_002000.png`` of several runs) into one
figure with a title line above each, for the README.

  python benchmarks/stack_grids.py --out docs/gan_quick_steps.png \
      --grid "d_classes=36: cond. acc. 0.223=runs/exp/acgan/samples/step_002000.png" \
      --grid "+ L1 50: 0.53=runs/exp/proj_l1_50/samples/step_002000.png"

``--side_by_side`` puts the grids next to each other instead (e.g. the keyword x z grids of
``launch.eval_gan``, ``W/eval/grid_step_002000.png``), and ``--width`` crops each to its left
part (the row labels and the first few columns).
"""

import os

from absl import app
from absl import flags
import numpy as np
from PIL import Image, ImageDraw

_OUT = flags.DEFINE_string("out", None, "Where to write the stacked PNG.", required=True)
_GRIDS = flags.DEFINE_multi_string("grid", [], "TITLE=PATH of a PNG; repeat, top to bottom.")
_SIDE_BY_SIDE = flags.DEFINE_bool("side_by_side", False, "Left to right instead of top to bottom.")
_WIDTH = flags.DEFINE_integer("width", 0, "> 0: crop each grid to its left WIDTH pixels.")
_PALETTE = flags.DEFINE_bool("palette", False, "Save with a 256-colour palette (smaller file).")


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


def side_by_side(grids: list[tuple[str, np.ndarray]], gap: int = 8) -> np.ndarray:
  """[(title, HWC uint8)] -> the titled grids left to right, with white gaps between them."""
  columns = [stack([grid]) for grid in grids]
  height = max(c.shape[0] for c in columns)
  parts = []
  for c in columns:
    padded = np.full((height, c.shape[1] + gap, 3), 255, np.uint8)
    padded[:c.shape[0], :c.shape[1]] = c
    parts.append(padded)
  return np.concatenate(parts, axis=1)[:, :-gap]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}; pass grids with --grid TITLE=PATH.")
  grids = []
  for spec in _GRIDS.value:
    title, sep, path = spec.rpartition("=")
    if not sep or not os.path.isfile(path):
      raise app.UsageError(f"--grid {spec!r}: use TITLE=PATH with an existing PNG.")
    grid = np.asarray(Image.open(path).convert("RGB"))
    grids.append((title, grid[:, :_WIDTH.value] if _WIDTH.value > 0 else grid))
  if not grids:
    raise app.UsageError("pass at least one --grid TITLE=PATH.")
  figure = Image.fromarray((side_by_side if _SIDE_BY_SIDE.value else stack)(grids))
  (figure.quantize(256) if _PALETTE.value else figure).save(_OUT.value, optimize=True)
  print(_OUT.value)


if __name__ == "__main__":
  app.run(main)
