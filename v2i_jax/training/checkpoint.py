"""Orbax checkpoints: save, resume by itself, restore for inference, survive a bad newest step.

A checkpoint holds two items: ``state`` (any pytree of arrays: params, batch stats, optimiser
states, step) and ``meta`` (JSON: the config and whatever a restorer must check, e.g. the
embedding source the GAN was trained on).

A step that cannot be read (truncated or deleted files, e.g. a disk that filled up mid-write) is
skipped with a warning and the next older one restored; the first save after that replaces the
skipped steps, so the resumed run's checkpoints are kept. A step that reads but holds another
model (other array names or shapes) is not skipped: that is the wrong workdir or config, and the
error says so.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from absl import logging as absl_logging
import jax
import orbax.checkpoint as ocp


# Metadata, commit markers and file-system slack on top of the arrays themselves.
SPACE_MARGIN_BYTES = 1 << 20
# How tensorstore and the OS word a write that the disk refused.
_DISK_ERRORS = ("RESOURCE_EXHAUSTED", "No space left", "Read-only file system", "Permission denied",
                "PERMISSION_DENIED", "Disk quota exceeded")


class CheckpointError(RuntimeError):
  """A checkpoint is missing, unreadable or does not fit what is being restored."""


class Checkpointer:
  """A thin wrapper over ``ocp.CheckpointManager`` that survives damage (see the module doc):
  restoring walks back from the newest step to the newest one that reads, warning about each bad
  one; saving replaces the steps skipped, checks the disk has room first, and says so when orbax
  declines a step instead of returning quietly.

  ``create=False`` opens an existing directory read-only (inference: nothing is written)."""

  def __init__(self, directory: str, max_to_keep: int = 3, create: bool = True):
    self.directory = os.path.abspath(os.fspath(directory))
    if not create and not os.path.isdir(self.directory):
      raise CheckpointError(
          f"no checkpoint directory at {self.directory}; train first or pass the workdir that "
          "holds a 'checkpoints/' folder.")
    if create:
      options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    else:  # The values orbax forces for read-only managers (it warns about any others).
      options = ocp.CheckpointManagerOptions(max_to_keep=None, save_interval_steps=0,
                                             create=False, read_only=True)
    verbosity = absl_logging.get_verbosity()
    if not create:  # orbax also warns that the directory is read-only, which is the point.
      absl_logging.set_verbosity(absl_logging.ERROR)
    try:
      self._manager = ocp.CheckpointManager(
          self.directory, options=options, item_names=("state", "meta"))
    finally:
      absl_logging.set_verbosity(verbosity)
    self._unreadable: list[int] = []  # Steps restore() skipped; save() replaces them.

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    steps = self.all_steps()
    return steps[-1] if steps else None

  def save(self, step: int, state: Any, meta: dict[str, Any], wait: bool = True) -> None:
    for bad in self._unreadable:  # Else orbax would skip saving steps up to the newest bad one.
      logging.warning("deleting unreadable checkpoint step %d in %s before saving step %d.",
                      bad, self.directory, step)
      self._manager.delete(bad)
    self._unreadable = []
    self._check_space(step, state)
    try:
      saved = self._manager.save(
          int(step),
          args=ocp.args.Composite(
              state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
      if saved and wait:
        self._manager.wait_until_finished()
    except Exception as e:  # noqa: BLE001 - tensorstore reports a full disk as ValueError.
      if not any(m in str(e) for m in _DISK_ERRORS):
        raise
      raise CheckpointError(
          f"could not write checkpoint step {step} in {self.directory} ({_first_line(e)}); "
          "free some space or pass a --workdir on another disk; a rerun resumes from step "
          f"{self.latest_step()}.") from e
    if not saved:  # orbax declines steps at or below its newest one without an error.
      raise CheckpointError(
          f"step {step} was not saved: {self.directory} already holds steps "
          f"{self.all_steps()}; use a new --workdir or remove the newer checkpoints.")

  def _check_space(self, step: int, state: Any) -> None:
    """Fails before writing when the disk cannot hold the arrays: a checkpoint that runs out of
    space mid-write leaves orbax's background threads failing one after the other."""
    needed = sum(int(getattr(x, "nbytes", 0)) for x in jax.tree_util.tree_leaves(state))
    needed = int(needed * 1.1) + SPACE_MARGIN_BYTES
    free = shutil.disk_usage(self.directory).free
    if free < needed:
      raise CheckpointError(
          f"no space for checkpoint step {step} in {self.directory}: it needs about "
          f"{needed / 2**20:.1f} MiB and the disk has {free / 2**20:.1f} MiB free; free some space "
          "or pass a --workdir on another disk.")

  def _steps_to_try(self, step: int | None) -> list[int]:
    """``[step]``, or with ``step=None`` every step newest first; raises when there is none."""
    steps = [self._pick(step)] if step is not None else self.all_steps()[::-1]
    if not steps:
      raise CheckpointError(f"no checkpoint in {self.directory}; train first.")
    return steps

  def restore_meta(self, step: int | None = None) -> dict[str, Any]:
    """The ``meta`` item of ``step``; with ``step=None`` the newest one that reads."""
    steps = self._steps_to_try(step)
    errors = []
    for s in steps:
      try:
        return self._manager.restore(
            s, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
      except Exception as e:  # noqa: BLE001 - orbax raises many types for a damaged step.
        errors.append(f"step {s}: {_first_line(e)}")
        logging.warning("checkpoint step %d in %s has unreadable metadata (%s); trying an "
                        "older one.", s, self.directory, type(e).__name__)
    raise CheckpointError(
        f"no readable checkpoint in {self.directory}; tried steps {steps}: " + " | ".join(errors))

  def restore(self, target: Any, step: int | None = None) -> tuple[int, Any, dict[str, Any]]:
    """Restores ``(step, state, meta)`` into the structure, dtypes and shardings of ``target``.

    With ``step=None`` it tries steps newest first and skips unreadable ones with a warning.
    """
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
    steps = self._steps_to_try(step)
    errors = []
    for s in steps:
      try:
        out = self._manager.restore(
            s, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
      except Exception as e:  # noqa: BLE001 - orbax raises many types for a damaged step.
        mismatch = self._mismatch(s, abstract)
        if mismatch:
          raise CheckpointError(
              f"checkpoint step {s} in {self.directory} holds another model than the one being "
              f"restored ({mismatch}); pass the workdir this model was trained in, or a new "
              "--workdir.") from e
        if step is not None:
          raise CheckpointError(
              f"checkpoint step {s} in {self.directory} is unreadable: {_first_line(e)}") from e
        errors.append(f"step {s}: {_first_line(e)}")
        logging.warning("checkpoint step %d in %s is unreadable (%s); trying an older one.",
                        s, self.directory, type(e).__name__)
        continue
      if errors:
        logging.warning("restored step %d of %s after skipping unreadable newer checkpoints "
                        "(a rerun replaces them): %s", s, self.directory, "; ".join(errors))
        self._unreadable = [t for t in self.all_steps() if t > s]
      return s, out["state"], out["meta"]
    raise CheckpointError(
        f"no readable checkpoint in {self.directory}; tried steps {steps}: " + " | ".join(errors))

  def _mismatch(self, step: int, abstract: Any) -> str | None:
    """How the arrays stored at ``step`` differ from ``abstract`` (names, shapes), or None when
    they match or the stored array list itself is unreadable (a damaged step)."""
    try:
      with ocp.StandardCheckpointer() as reader:
        stored = reader.metadata(os.path.join(self.directory, str(step), "state")).item_metadata
      stored = _shapes(stored)
    except Exception:  # noqa: BLE001 - no readable array list: damaged, not another model.
      return None
    if not stored:  # orbax answers None (with a warning) for an array list it cannot read.
      return None
    wanted = _shapes(abstract)
    missing = sorted(set(wanted) - set(stored))
    extra = sorted(set(stored) - set(wanted))
    reshaped = sorted(k for k in set(wanted) & set(stored) if wanted[k] != stored[k])
    if not (missing or extra or reshaped):
      return None
    parts = []
    if missing:
      parts.append(f"{len(missing)} arrays it lacks, e.g. {missing[0]!r}")
    if extra:
      parts.append(f"{len(extra)} arrays this model lacks, e.g. {extra[0]!r}")
    if reshaped:
      k = reshaped[0]
      parts.append(f"{len(reshaped)} of another shape, e.g. {k!r} {stored[k]} != {wanted[k]}")
    return "; ".join(parts)

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


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  """``{'params/Dense_0/kernel': shape}`` of a pytree of arrays or array metadata."""
  def name(entry):
    for attr in ("key", "name", "idx"):
      if hasattr(entry, attr):
        return str(getattr(entry, attr))
    return str(entry)
  return {"/".join(name(e) for e in path): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _first_line(e: Exception) -> str:
  """``Type: first line`` of an exception (orbax messages run to pages of tree dumps)."""
  lines = str(e).strip().splitlines()
  return f"{type(e).__name__}: {lines[0][:300] if lines else ''}"
