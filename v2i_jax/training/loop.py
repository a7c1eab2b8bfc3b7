"""Loop helpers both trainings use: metrics to TensorBoard and a JSONL file, progress, NaN guard."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

import numpy as np


class NonFiniteLossError(FloatingPointError):
  """Training produced NaN/Inf; the message names the step and the last good checkpoint."""


def check_finite(metrics: Mapping[str, Any], step: int, last_good_step: int | None,
                 workdir: str) -> None:
  """Stops training with a clear message when any metric is NaN or Inf."""
  bad = {k: float(v) for k, v in metrics.items()
         if np.ndim(v) == 0 and not math.isfinite(float(v))}
  if bad:
    where = (f"the last good checkpoint is step {last_good_step} in {workdir}/checkpoints "
             "and a rerun resumes from it" if last_good_step is not None
             else "no checkpoint was written yet")
    raise NonFiniteLossError(
        f"non-finite metrics {bad} at step {step}; {where}. Lower the learning rate or check "
        "the input data.")


class MetricWriter:
  """Scalars and images to TensorBoard (tensorboardX), scalars also to ``metrics.jsonl``.

  Only process 0 writes, so the same code serves multi-process training.
  """

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled
    self._tb = None
    self._jsonl = None
    if enabled:
      from tensorboardX import SummaryWriter  # light, no TensorFlow needed
      os.makedirs(workdir, exist_ok=True)
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
      self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")

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
