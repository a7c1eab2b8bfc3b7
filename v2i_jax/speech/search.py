"""Hyperparameter search as the paper did it: a coarse random search over the L2 weight lambda
and the cyclic schedule (eta_min, eta_max, n_s, l), then a fine one around the best coarse trial.

Trials train with :func:`v2i_jax.speech.train.train_and_evaluate` on features loaded once, each in
``<workdir>/trials/<name>``, and are ranked by validation accuracy (the test split is never
looked at). Every finished trial is a row of ``<workdir>/trials.csv``; a rerun skips the rows
already there, so a killed search resumes. Trial ``i`` of a phase is drawn from
``(seed, phase, i)``, so the same command gives the same trials.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
from typing import Any

import ml_collections
import numpy as np

from v2i_jax.speech import input_pipeline
from v2i_jax.speech import train
from v2i_jax.training import loop

CSV_FIELDS = ("trial", "phase", "status", "weight_decay", "eta_min", "eta_max", "step_size", "num_cycles",
              "steps", "val_accuracy", "val_loss", "train_seconds")
PHASES = ("coarse", "fine")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """Coarse ranges (log-uniform unless integer). The paper searched lambda in 1e-3..1e-1, eta in
  1e-7..1e1, n_s in 100..1000 and l in 5..15; the defaults keep trials short on a CPU."""
  weight_decay: tuple[float, float] = (1e-6, 1e-1)
  eta_max: tuple[float, float] = (1e-3, 1.0)
  eta_min_over_max: tuple[float, float] = (1e-3, 1e-1)
  step_size: tuple[int, int] = (100, 600)
  num_cycles: tuple[int, int] = (1, 3)
  # Fine phase: log-factors around the best coarse trial (n_s and l stay near it).
  fine_log10_radius: float = 0.5
  fine_step_size_factor: tuple[float, float] = (0.75, 1.33)


def sample_trial(rng: np.random.Generator, phase: str, space: SearchSpace,
                 best: dict[str, Any] | None = None) -> dict[str, Any]:
  """One trial's ``weight_decay, eta_min, eta_max, step_size, num_cycles``."""
  log_uniform = lambda lo, hi: float(10 ** rng.uniform(np.log10(lo), np.log10(hi)))
  if phase == "coarse":
    eta_max = log_uniform(*space.eta_max)
    return {"weight_decay": log_uniform(*space.weight_decay),
            "eta_min": eta_max * log_uniform(*space.eta_min_over_max),
            "eta_max": eta_max,
            "step_size": int(rng.integers(space.step_size[0], space.step_size[1] + 1)),
            "num_cycles": int(rng.integers(space.num_cycles[0], space.num_cycles[1] + 1))}
  if best is None:
    raise ValueError("the fine phase needs the best coarse trial.")
  jitter = lambda value: float(value * 10 ** rng.uniform(-space.fine_log10_radius,
                                                         space.fine_log10_radius))
  eta_max = jitter(best["eta_max"])
  ratio = best["eta_min"] / best["eta_max"]
  return {"weight_decay": jitter(best["weight_decay"]),
          "eta_min": eta_max * min(1.0, jitter(ratio)),
          "eta_max": eta_max,
          "step_size": max(1, int(round(best["step_size"] *
                                        rng.uniform(*space.fine_step_size_factor)))),
          "num_cycles": int(best["num_cycles"])}


def trial_config(base: ml_collections.ConfigDict, trial: dict[str, Any]) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(base.to_dict())  # An unlocked copy.
  config.weight_decay = trial["weight_decay"]
  config.schedule.update(eta_min=trial["eta_min"], eta_max=trial["eta_max"],
                         step_size=trial["step_size"], num_cycles=trial["num_cycles"])
  # Trials keep only their final checkpoint; search results live in the CSV.
  config.checkpoint_every_steps = train.num_train_steps(config)
  config.eval_every_steps = train.num_train_steps(config) + 1
  config.checkpoints_to_keep = 1
  # Trials are picked on validation; the out-of-distribution yardstick is for the chosen model
  # alone (scoring every trial would cost time and invite picking on it).
  config.ood_data_dir = ""
  return config


def read_trials(path: str) -> list[dict[str, Any]]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    rows = list(csv.DictReader(f))
  for row in rows:
    for key in CSV_FIELDS[3:]:
      row[key] = float(row[key])
    row["step_size"], row["num_cycles"], row["steps"] = (
        int(row["step_size"]), int(row["num_cycles"]), int(row["steps"]))
  return rows


def _best(rows) -> dict[str, Any] | None:
  return max((r for r in rows if r["status"] == "ok"), key=lambda r: r["val_accuracy"],
             default=None)


def run_search(base: ml_collections.ConfigDict, workdir: str, num_coarse: int, num_fine: int,
               seed: int = 0, space: SearchSpace = SearchSpace()) -> dict[str, Any]:
  """Runs (or finishes) the search; returns the best trial's row.

  Writes ``trials.csv``, ``best_config.json`` (the whole config of the best trial) and
  ``best_overrides.txt`` (the ``--config.x=y`` flags that turn ``base`` into it).
  """
  os.makedirs(workdir, exist_ok=True)
  csv_path = os.path.join(workdir, "trials.csv")
  done = {row["trial"]: row for row in read_trials(csv_path)}
  data = train.load_data(base)
  if not len(data.splits["validation"][0]):
    raise input_pipeline.FeatureDataError(
        f"{base.data_dir} has no validation clips; the search ranks trials on them.")
  new_file = not os.path.exists(csv_path)
  with open(csv_path, "a", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
    if new_file:
      writer.writeheader()
    best = None
    for phase, count in zip(PHASES, (num_coarse, num_fine)):
      if phase == "fine" and count and best is None:
        raise loop.NonFiniteLossError(
            f"every coarse trial diverged (see {csv_path}); lower the eta_max range.")
      for i in range(count):
        name = f"{phase}_{i:03d}"
        rng = np.random.default_rng([seed, PHASES.index(phase), i])
        trial = sample_trial(rng, phase, space, best)
        if name not in done:
          config = trial_config(base, trial)
          try:
            results = train.train_and_evaluate(config, os.path.join(workdir, "trials", name),
                                               data)
            outcome = {"status": "ok", "val_accuracy": results["validation"]["accuracy"],
                       "val_loss": results["validation"]["loss"],
                       "train_seconds": results["train_seconds_this_run"]}
          except loop.NonFiniteLossError as e:  # Too high a rate is a result, not a crash.
            logging.warning("%s diverged: %s", name, e)
            outcome = {"status": "diverged", "val_accuracy": float("nan"),
                       "val_loss": float("nan"), "train_seconds": float("nan")}
          done[name] = {"trial": name, "phase": phase, **trial,
                        "steps": train.num_train_steps(config), **outcome}
          writer.writerow(done[name])
          f.flush()
          logging.info("%s: validation accuracy %.4f", name, done[name]["val_accuracy"])
      best = _best(r for r in done.values() if r["phase"] in PHASES[:PHASES.index(phase) + 1])
  best = _best(done.values())
  if best is None:
    raise loop.NonFiniteLossError(f"every trial diverged (see {csv_path}); lower the eta_max "
                                  "range of the search.")
  best_config = trial_config(base, best)
  with open(os.path.join(workdir, "best_config.json"), "w") as f:
    f.write(best_config.to_json_best_effort(indent=1))
  with open(os.path.join(workdir, "best_overrides.txt"), "w") as f:
    f.write(" ".join(f"--config.{k}={v}" for k, v in (
        ("weight_decay", best["weight_decay"]), ("schedule.eta_min", best["eta_min"]),
        ("schedule.eta_max", best["eta_max"]), ("schedule.step_size", best["step_size"]),
        ("schedule.num_cycles", best["num_cycles"]))) + "\n")
  return best
