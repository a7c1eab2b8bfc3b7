"""Data parallelism the modern way: one jitted step over a 1-D device mesh.

The batch is sharded on its leading axis over every device (of every process); parameters and
optimiser state are replicated. The same code runs on 1 CPU, N forced host devices, a GPU and
several processes (:mod:`v2i_jax.training.distributed`).

With several processes, the mesh lists the devices process by process, so process ``p`` holds
rows ``[p * B / P, (p + 1) * B / P)`` of a global batch of ``B``: each process reads only that
slice (the input pipelines take ``process_index`` and ``process_count``) and :func:`shard_batch`
assembles the global array. The global batch of a step is then the same whatever the number of
processes.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(devices: list[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh named ``data`` over ``devices`` (default: all devices of all processes),
  ordered by process so each process's devices hold one contiguous slice of the batch."""
  devices = jax.devices() if devices is None else devices
  devices = sorted(devices, key=lambda d: (d.process_index, d.id))
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading axis split over the mesh, everything else whole."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def check_batch_size(global_batch_size: int, mesh: Mesh) -> None:
  n = mesh.devices.size
  if global_batch_size % n:
    raise ValueError(
        f"batch size {global_batch_size} is not divisible by the {n} devices of the mesh; "
        f"set config.batch_size to a multiple of {n}.")


def shard_batch(batch: Any, mesh: Mesh) -> Any:
  """Places a pytree of host arrays (this process's part of the batch) on the mesh.

  With one process this is a plain sharded ``device_put``; with several, each process passes its
  own slice and the global array is assembled with ``make_array_from_process_local_data``.
  """
  sharding = batch_sharding(mesh)
  leaves = jax.tree_util.tree_leaves(batch)
  if leaves:
    local = leaves[0].shape[0]
    check_batch_size(local * jax.process_count(), mesh)
  if jax.process_count() == 1:
    return jax.device_put(batch, sharding)
  return jax.tree_util.tree_map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a pytree (parameters, optimiser state) on every device of the mesh.

  With several processes every process must pass the same values (JAX checks that it does).
  """
  return jax.device_put(tree, replicated_sharding(mesh))


def to_host(x: jax.Array) -> np.ndarray:
  """The whole value of a (possibly sharded) array as numpy, on every process.

  With several processes this gathers the other processes' rows, so all of them must call it.
  """
  if x.is_fully_addressable or x.is_fully_replicated:
    return np.asarray(x)
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def local_replica(tree: Any) -> Any:
  """This process's copy of replicated arrays, as single-device arrays: for work one process
  does alone (sample pictures on process 0) without involving the other processes."""
  return jax.tree_util.tree_map(lambda a: a.addressable_data(0), tree)
