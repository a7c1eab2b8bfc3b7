"""Loop helpers both trainings use: metrics to TensorBoard and a JSONL file, progress, NaN guard."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable, Mapping

import numpy as np


class NonFiniteLossError(FloatingPointError):
  """Training produced NaN/Inf; the message names the step and the last good checkpoint."""


def check_finite(metrics: Mapping[str, Any], step: int, last_good_step: int | None,
                 workdir: str, *, resumed_at: int | None = None,
                 earlier_step: Callable[[], int | None] | None = None) -> None:
  """Stops training with a clear message when any metric is NaN or Inf.

  ``resumed_at``: the checkpoint step this run resumed from. A NaN before the run saved a newer
  one may come from that step itself (a diverged state saved, then resumed again and again), so
  the message then names the newest earlier step that verifies (``earlier_step()``, asked only
  then) and the ``--restore_step`` that rolls back to it.
  """
  bad = {k: float(v) for k, v in metrics.items()
         if np.ndim(v) == 0 and not math.isfinite(float(v))}
  if not bad:
    return
  if last_good_step is not None and last_good_step == resumed_at:
    earlier = earlier_step() if earlier_step is not None else None
    fix = (f"rerun with --restore_step={earlier}, the newest earlier checkpoint that verifies "
           "(the steps after it are replaced as training goes on)" if earlier is not None
           else "no earlier checkpoint verifies: start again in a new --workdir")
    raise NonFiniteLossError(
        f"non-finite metrics {bad} at step {step}, before any checkpoint after the resumed step "
        f"{resumed_at} in {workdir}/checkpoints; a plain rerun would resume from that step again, "
        f"so {fix}. Or lower the learning rate, or check the input data.")
  where = (f"the last good checkpoint is step {last_good_step} in {workdir}/checkpoints "
           "and a rerun resumes from it" if last_good_step is not None
           else "no checkpoint was written yet")
  raise NonFiniteLossError(
      f"non-finite metrics {bad} at step {step}; {where}. Lower the learning rate or check "
      "the input data.")


class MetricWriter:
  """Scalars and images to TensorBoard (tensorboardX), scalars also to ``metrics.jsonl``.

  Only process 0 writes, so the same code serves multi-process training. ``start_step``: the step
  the run starts (or resumes) from; rows of later steps, written before a crash or kill and about
  to be redone, are dropped from ``metrics.jsonl`` so each step appears once.
  """

  def __init__(self, workdir: str, enabled: bool = True, start_step: int = 0):
    self.enabled = enabled
    self._tb = None
    self._jsonl = None
    if enabled:
      from tensorboardX import SummaryWriter  # light, no TensorFlow needed
      os.makedirs(workdir, exist_ok=True)
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
      path = os.path.join(workdir, "metrics.jsonl")
      _truncate_metrics(path, start_step)
      self._jsonl = open(path, "a")

  def scalars(self, step: int, metrics: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    row = {"step": int(step)}
    for k, v in metrics.items():
      row[k] = float(v)
      self._tb.add_scalar(k, float(v), int(step))
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()

  def image(self, step: int, tag: str, image_hwc_uint8: np.ndarray) -> None:
    if self.enabled:
      self._tb.add_image(tag, image_hwc_uint8, int(step), dataformats="HWC")

  def close(self) -> None:
    if self.enabled:
      self._tb.close()
      self._jsonl.close()


def _truncate_metrics(path: str, start_step: int) -> None:
  """Drops the rows of ``path`` after ``start_step`` (and a half-written last line)."""
  if not os.path.exists(path):
    return
  kept, dropped = [], 0
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except ValueError:
        dropped += 1
        continue
      if int(row.get("step", 0)) <= start_step:
        kept.append(line if line.endswith("\n") else line + "\n")
      else:
        dropped += 1
  if dropped:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      f.writelines(kept)
    os.replace(tmp, path)


def read_metrics(workdir: str) -> list[dict[str, float]]:
  """The rows of ``metrics.jsonl`` (for loss-curve plots and tests)."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def progress(total: int, initial: int = 0, desc: str = "train"):
  """A tqdm bar that shows on a terminal and stays quiet-ish in logs."""
  from tqdm import tqdm
  return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, mininterval=2.0)
