"""Orbax checkpoints: save, resume by itself, restore for inference, survive a bad newest step.

A checkpoint holds two items: ``state`` (any pytree of arrays: params, batch stats, optimiser
states, step) and ``meta`` (JSON: the config and whatever a restorer must check, e.g. the
embedding source the GAN was trained on).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint is missing, unreadable or does not fit what is being restored."""


class Checkpointer:
  """A thin wrapper over ``ocp.CheckpointManager`` with one behaviour added: restoring walks back
  from the newest step to the newest one that reads, warning about each bad one, so a run killed
  mid-write resumes from the last good checkpoint instead of failing."""

  def __init__(self, directory: str, max_to_keep: int = 3, create: bool = True):
    self.directory = os.path.abspath(os.fspath(directory))
    if not create and not os.path.isdir(self.directory):
      raise CheckpointError(
          f"no checkpoint directory at {self.directory}; train first or pass the workdir that "
          "holds a 'checkpoints/' folder.")
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create)
    self._manager = ocp.CheckpointManager(
        self.directory, options=options, item_names=("state", "meta"))

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    steps = self.all_steps()
    return steps[-1] if steps else None

  def save(self, step: int, state: Any, meta: dict[str, Any], wait: bool = True) -> None:
    self._manager.save(
        int(step),
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    if wait:
      self._manager.wait_until_finished()

  def restore_meta(self, step: int | None = None) -> dict[str, Any]:
    step = self._pick(step)
    return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def restore(self, target: Any, step: int | None = None) -> tuple[int, Any, dict[str, Any]]:
    """Restores ``(step, state, meta)`` into the structure, dtypes and shardings of ``target``.

    With ``step=None`` it tries steps newest first and skips unreadable ones with a warning.
    """
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
    steps = [self._pick(step)] if step is not None else self.all_steps()[::-1]
    if not steps:
      raise CheckpointError(f"no checkpoint in {self.directory}; train first.")
    errors = []
    for s in steps:
      try:
        out = self._manager.restore(
            s, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        if errors:
          logging.warning("restored step %d after skipping unreadable newer checkpoints: %s",
                          s, "; ".join(errors))
        return s, out["state"], out["meta"]
      except Exception as e:  # noqa: BLE001 - orbax raises many types for a damaged step.
        if step is not None:
          raise CheckpointError(
              f"checkpoint step {s} in {self.directory} cannot be restored into this model: "
              f"{type(e).__name__}: {str(e)[:300]}") from e
        errors.append(f"step {s}: {type(e).__name__}: {str(e)[:200]}")
        logging.warning("checkpoint step %d in %s is unreadable (%s); trying an older one.",
                        s, self.directory, type(e).__name__)
    raise CheckpointError(
        f"no readable checkpoint in {self.directory}; tried steps {steps}: " + " | ".join(errors))

  def _pick(self, step: int | None) -> int:
    steps = self.all_steps()
    if not steps:
      raise CheckpointError(f"no checkpoint in {self.directory}; train first.")
    if step is None:
      return steps[-1]
    if step not in steps:
      raise CheckpointError(f"no checkpoint for step {step} in {self.directory}; have {steps}.")
    return step

  def close(self) -> None:
    self._manager.close()

  def __enter__(self) -> "Checkpointer":
    return self

  def __exit__(self, *exc) -> None:
    self.close()
