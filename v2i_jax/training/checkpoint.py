"""Orbax checkpoints: save, resume by itself, restore for inference, survive a bad newest step.

A checkpoint holds two items: ``state`` (any pytree of arrays: params, batch stats, optimiser
states, step) and ``meta`` (JSON: the config and whatever a restorer must check, e.g. the
embedding source the GAN was trained on).

Integrity: every save records a sha256 of each array (its dtype, shape and bytes) in ``meta``
(under ``CHECKSUM_KEY``, which restorers never see), and every restore, for inference and for
resuming, recomputes them. A step whose arrays read but differ from what was saved (bit rot, a
flipped byte inside an array file: orbax alone would load it silently) is treated like an
unreadable one. Checkpoints written before checksums existed still load, with a one-line note.

A step that cannot be read (truncated or deleted files, e.g. a disk that filled up mid-write) or
fails its checksums is skipped with one warning and the next older one restored; the first save
after that replaces the skipped steps, so the resumed run's checkpoints are kept. A step that reads
but holds another model (other array names or shapes) is not skipped: that is the wrong workdir or
config, and the error says so.

orbax's abandoned reads of a damaged step report themselves again from its event loop when they
are collected (``Exception ignored in <coroutine ...>`` with TensorStore specs, thousands of
lines); :func:`quiet_abandoned_reads` keeps those out of the terminal, so a fallback prints one
warning per skipped step and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
from typing import Any

from absl import logging as absl_logging
import jax
import numpy as np
import orbax.checkpoint as ocp


# Metadata, commit markers and file-system slack on top of the arrays themselves.
SPACE_MARGIN_BYTES = 1 << 20
# How tensorstore and the OS word a write that the disk refused.
_DISK_ERRORS = ("RESOURCE_EXHAUSTED", "No space left", "Read-only file system", "Permission denied",
                "PERMISSION_DENIED", "Disk quota exceeded")


# The key of ``meta`` under which save() records the arrays' checksums.
CHECKSUM_KEY = "_checksums"


class CheckpointError(RuntimeError):
  """A checkpoint is missing, unreadable or does not fit what is being restored."""


class ChecksumError(CheckpointError):
  """A checkpoint's arrays read, but are not the arrays that were saved."""


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
    self._warned: set[int] = set()  # Steps skipped with a warning (one each).
    self._noted_unverified = False

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
    meta = {**meta, CHECKSUM_KEY: {"algorithm": "sha256", "arrays": checksums(state)}}
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
        with quiet_abandoned_reads():
          meta = self._manager.restore(
              s, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        return {k: v for k, v in meta.items() if k != CHECKSUM_KEY}
      except Exception as e:  # noqa: BLE001 - orbax raises many types for a damaged step.
        errors.append(f"step {s}: {_first_line(e)}")
        self._warn_skipped(s, f"its metadata is unreadable ({type(e).__name__})")
    raise CheckpointError(
        f"no readable checkpoint in {self.directory}; tried steps {steps}: " + " | ".join(errors))

  def restore(self, target: Any, step: int | None = None) -> tuple[int, Any, dict[str, Any]]:
    """Restores ``(step, state, meta)`` into the structure, dtypes and shardings of ``target``.

    Every restored step's arrays are checked against the checksums recorded when it was saved.
    With ``step=None`` it tries steps newest first and skips unreadable or damaged ones with one
    warning each; with a ``step``, such a step is an error.
    """
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
    steps = self._steps_to_try(step)
    errors = []
    for s in steps:
      try:
        with quiet_abandoned_reads():
          out = self._manager.restore(
              s, args=ocp.args.Composite(
                  state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        self._verify(s, out["state"], out["meta"])
      except ChecksumError as e:
        if step is not None:
          raise
        errors.append(f"step {s}: {e}")
        self._warn_skipped(s, str(e))
        continue
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
        self._warn_skipped(s, f"unreadable ({type(e).__name__})")
        continue
      if errors:
        self._unreadable = [t for t in self.all_steps() if t > s]
      meta = {k: v for k, v in out["meta"].items() if k != CHECKSUM_KEY}
      return s, out["state"], meta
    raise CheckpointError(
        f"no readable checkpoint in {self.directory}; tried steps {steps}: " + " | ".join(errors))

  def newest_verified(self, target: Any, below: int) -> int | None:
    """The newest step before ``below`` that reads and verifies (a rollback target), or None."""
    for s in [t for t in self.all_steps() if t < below][::-1]:
      try:
        self.restore(target, s)
      except CheckpointError:
        continue
      return s
    return None

  def drop_newer_than(self, step: int) -> None:
    """Marks the steps after ``step`` for deletion at the next save (a rollback: training goes on
    from ``step``, and orbax saves no step at or below its newest one)."""
    self._unreadable = sorted(set(self._unreadable) | {t for t in self.all_steps() if t > step})

  def _verify(self, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Raises ChecksumError when the restored arrays differ from the ones saved at ``step``."""
    recorded = meta.get(CHECKSUM_KEY)
    if recorded is None:
      if not self._noted_unverified:
        self._noted_unverified = True
        logging.warning("checkpoint step %d in %s has no checksums (saved before v2i_jax "
                        "recorded them): restored unverified.", step, self.directory)
      return
    stored = recorded.get("arrays", {})
    found = checksums(state)
    compared = [k for k in found if k in stored and _dtype_of(stored[k]) == _dtype_of(found[k])]
    bad = [k for k in compared if stored[k] != found[k]]
    if bad:
      raise ChecksumError(
          f"checkpoint step {step} in {self.directory} fails its checksums: {len(bad)} of "
          f"{len(compared)} arrays differ from what was saved (e.g. {bad[0]!r}); its files were "
          "damaged after saving.")

  def _warn_skipped(self, step: int, why: str) -> None:
    """One warning per skipped step, however many times restore_meta and restore meet it."""
    if step in self._warned:
      return
    self._warned.add(step)
    logging.warning("skipping checkpoint step %d in %s: %s; trying an older one (the next save "
                    "replaces it).", step, self.directory, why)

  def _mismatch(self, step: int, abstract: Any) -> str | None:
    """How the arrays stored at ``step`` differ from ``abstract`` (names, shapes), or None when
    they match or the stored array list itself is unreadable (a damaged step)."""
    try:
      with quiet_abandoned_reads(), ocp.StandardCheckpointer() as reader:
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


def check_restore_step(checkpointer: Checkpointer, restore_step: int | None) -> None:
  """A ``restore_step`` into a directory without checkpoints is a mistake: say so."""
  if restore_step is not None and checkpointer.latest_step() is None:
    raise CheckpointError(
        f"--restore_step={restore_step} but {checkpointer.directory} holds no checkpoint; "
        "drop --restore_step to start training, or pass the workdir that holds that step.")


def _path_name(path) -> str:
  """``'params/Dense_0/kernel'`` of a pytree key path."""
  def name(entry):
    for attr in ("key", "name", "idx"):
      if hasattr(entry, attr):
        return str(getattr(entry, attr))
    return str(entry)
  return "/".join(name(e) for e in path)


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  """``{'params/Dense_0/kernel': shape}`` of a pytree of arrays or array metadata."""
  return {_path_name(path): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def checksums(tree: Any) -> dict[str, str]:
  """``{'params/Dense_0/kernel': 'float32:<sha256 of shape and bytes>'}`` for every array leaf of
  ``tree`` that this process holds whole (all of them on one host; replicated ones on several)."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    data = _host_array(leaf)
    if data is None:
      continue
    digest = hashlib.sha256(repr(data.shape).encode())
    digest.update(np.ascontiguousarray(data).view(np.uint8).reshape(-1).data)
    out[_path_name(path)] = f"{data.dtype}:{digest.hexdigest()}"
  return out


def _host_array(leaf: Any) -> np.ndarray | None:
  if isinstance(leaf, jax.Array):
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    if not leaf.is_fully_addressable:
      if not leaf.is_fully_replicated:
        return None  # Sharded across processes: no process holds it whole.
      leaf = leaf.addressable_data(0)
    return np.asarray(jax.device_get(leaf))
  if isinstance(leaf, (np.ndarray, np.generic)):
    return np.asarray(leaf)
  return None


def _dtype_of(checksum: str) -> str:
  return checksum.split(":", 1)[0]


# asyncio's "Event loop is closed" (raised when a read orbax abandoned finishes after its event
# loop closed) and orbax coroutines collected unfinished: noise after a failed restore.
_installed_filters = False


def is_abandoned_read(exc_type, exc_value, exc_tb, obj=None) -> bool:
  if obj is not None and type(obj).__name__ == "coroutine":
    code = getattr(obj, "cr_code", None)
    if code is not None and ("orbax" in code.co_filename or "tensorstore" in code.co_filename):
      return True
  if exc_type is RuntimeError and "Event loop is closed" in str(exc_value):
    tb = exc_tb
    while tb is not None and tb.tb_next is not None:
      tb = tb.tb_next
    return tb is None or "asyncio" in tb.tb_frame.f_code.co_filename
  return False


def _drop_unretrieved_reads(record: logging.LogRecord) -> bool:
  """asyncio's "Task/Future exception was never retrieved" for reads orbax abandoned: dropped."""
  text = record.getMessage()
  return not ("never retrieved" in text
              and any(m in text for m in ("orbax", "OCDBT", "tensorstore", 'Error opening "')))


def _install_filters() -> None:
  """Wraps sys.excepthook, threading.excepthook and sys.unraisablehook (once per process) so
  that reports of abandoned reads are dropped and everything else passes through."""
  global _installed_filters
  if _installed_filters:
    return
  _installed_filters = True
  import threading  # pylint: disable=g-import-not-at-top

  def wrap(name, owner, pick):
    original = getattr(owner, name)

    def hook(*args):
      if not is_abandoned_read(*pick(*args)):
        getattr(hook, "original")(*args)
    hook.original = original
    setattr(owner, name, hook)

  logging.getLogger("asyncio").addFilter(_drop_unretrieved_reads)
  wrap("excepthook", sys, lambda t, v, tb: (t, v, tb))
  wrap("excepthook", threading, lambda a: (a.exc_type, a.exc_value, a.exc_traceback))
  wrap("unraisablehook", sys, lambda u: (u.exc_type, u.exc_value, u.exc_traceback, u.object))


@contextlib.contextmanager
def quiet_abandoned_reads():
  """orbax's own warnings off (ours say which step was skipped and why) while reading, and the
  reports of abandoned reads filtered out from then on (they can come at any later time, from
  any thread, when a read failed)."""
  _install_filters()
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    absl_logger.setLevel(level)


def _first_line(e: Exception) -> str:
  """``Type: first line`` of an exception (orbax messages run to pages of tree dumps)."""
  lines = str(e).strip().splitlines()
  return f"{type(e).__name__}: {lines[0][:300] if lines else ''}"
