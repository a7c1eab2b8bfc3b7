"""Several processes, one training: join a ``jax.distributed`` job from flags or the scheduler.

Every process (one per host, or one per GPU) runs the same launch command. Before JAX starts its
backend, :func:`initialize` connects the process to the coordinator (process 0), after which
``jax.devices()`` lists the devices of every process and the training's mesh spans them all:

* ``--coordinator_address=HOST:PORT --num_processes=N --process_id=I`` on the command line, or
* nothing, inside a multi-task job of a scheduler that ``jax.distributed.initialize()`` reads by
  itself (Slurm ``srun`` steps, Open MPI ``mpirun``), or
* nothing, outside one: a plain single-process run.

On CPU the processes talk through gloo (JAX's default ``jax_cpu_collectives_implementation``); on
GPU through NCCL. Processes other than 0 turn their progress bars off (``TQDM_DISABLE``); the
trainings write logs, reports and pictures from process 0 only (:func:`is_primary`).
"""

from __future__ import annotations

import os
from typing import Mapping

import jax
from absl import flags

# Variables a scheduler sets in every task of a multi-task job; jax.distributed reads the same.
SCHEDULERS = {
    "slurm": (("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID", "SLURM_LOCALID"),
              "SLURM_NTASKS"),
    "openmpi": (("OMPI_MCA_orte_hnp_uri",), "OMPI_COMM_WORLD_SIZE"),
}
FLAG_NAMES = ("coordinator_address", "num_processes", "process_id")


class DistributedSetupError(ValueError):
  """The multi-process settings are incomplete or the job cannot be joined; the message says
  which flag or process to fix."""


def define_flags() -> None:
  """Defines ``--coordinator_address``, ``--num_processes`` and ``--process_id`` (absl)."""
  flags.DEFINE_string(
      "coordinator_address", None,
      "HOST:PORT of process 0, the same for every process of a multi-process run (e.g. "
      "10.0.0.1:12355). Leave unset for one process, or inside srun/mpirun, which JAX reads.")
  flags.DEFINE_integer("num_processes", None, "How many processes take part (with "
                       "--coordinator_address).")
  flags.DEFINE_integer("process_id", None, "This process's index, 0 .. num_processes - 1 (with "
                       "--coordinator_address); process 0 hosts the coordinator.")


def initialize_from_flags() -> str:
  """:func:`initialize` with the values of :func:`define_flags`'s flags."""
  return initialize(**{name: flags.FLAGS[name].value for name in FLAG_NAMES})


def detect_scheduler(environ: Mapping[str, str] | None = None) -> str | None:
  """The scheduler (a key of ``SCHEDULERS``) running this process as one task of several."""
  environ = os.environ if environ is None else environ
  for name, (required, task_count) in SCHEDULERS.items():
    if all(v in environ for v in required) and _as_int(environ.get(task_count)) > 1:
      return name
  return None


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, environ: Mapping[str, str] | None = None,
               timeout_seconds: int = 300) -> str:
  """Joins the multi-process job if there is one; returns how: ``'flags'``, a scheduler name
  from ``SCHEDULERS``, or ``'single'`` (nothing to join).

  Must run before anything starts JAX's backend (``jax.devices()``, any computation).
  """
  given = {"coordinator_address": coordinator_address, "num_processes": num_processes,
           "process_id": process_id}
  missing = [f"--{k}" for k, v in given.items() if v is None]
  if len(missing) not in (0, len(given)):
    raise DistributedSetupError(
        f"{', '.join(missing)} not set; a multi-process run needs --coordinator_address, "
        "--num_processes and --process_id on every process (or none of them, inside srun/mpirun).")
  if missing:
    scheduler = detect_scheduler(environ)
    if scheduler is None:
      return "single"
    _join(scheduler, timeout_seconds)
    return scheduler
  if num_processes < 1 or not 0 <= process_id < num_processes:
    raise DistributedSetupError(
        f"--process_id={process_id} with --num_processes={num_processes}; give every process a "
        "different id in 0 .. num_processes - 1.")
  host, _, port = coordinator_address.rpartition(":")
  if not host or not port.isdigit():
    raise DistributedSetupError(
        f"--coordinator_address={coordinator_address!r}; use HOST:PORT of process 0, e.g. "
        "127.0.0.1:12355.")
  _join(f"coordinator {coordinator_address} as process {process_id} of {num_processes}",
        timeout_seconds, coordinator_address=coordinator_address, num_processes=num_processes,
        process_id=process_id)
  return "flags"


def is_primary() -> bool:
  """True on the process that writes logs, reports and pictures (process 0)."""
  return jax.process_index() == 0


def _join(description: str, timeout_seconds: int, **kwargs) -> None:
  try:
    jax.distributed.initialize(initialization_timeout=timeout_seconds, **kwargs)
  except Exception as e:  # noqa: BLE001 - XLA raises its own runtime error types.
    raise DistributedSetupError(
        f"cannot join the jax.distributed job ({description}): {type(e).__name__}: "
        f"{str(e).splitlines()[0][:300] if str(e) else ''}; check that every process got the same "
        "coordinator address and process count, a different process id, and that process 0 "
        "is running and reachable.") from e
  if jax.process_index() != 0:
    os.environ.setdefault("TQDM_DISABLE", "1")  # One progress bar per job, not per process.


def _as_int(value: str | None) -> int:
  try:
    return int(value or 0)
  except ValueError:
    return 0
