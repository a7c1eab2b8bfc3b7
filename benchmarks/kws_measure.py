"""The keyword train-step timing shared by benchmarks/kws_step.py and benchmarks/multiprocess.py."""

import importlib
import statistics
import time

NUM_WORDS = 35


def measure(config_name: str, steps: int, repeats: int) -> dict:
  """Times the train step of ``configs/<config_name>.py`` on the mesh of all processes' devices.

  Random batches already on the mesh (the step, not the input pipeline, is measured); each
  process makes its own rows of every global batch. The compile is timed apart; the median of
  ``repeats`` runs of ``steps`` steps gives the step time.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from v2i_jax.speech import features  # pylint: disable=g-import-not-at-top
  from v2i_jax.speech import train  # pylint: disable=g-import-not-at-top
  from v2i_jax.training import mesh as mesh_lib  # pylint: disable=g-import-not-at-top

  config = importlib.import_module(f"configs.{config_name}").get_config()
  mesh = mesh_lib.make_mesh()
  mesh_lib.check_batch_size(config.batch_size, mesh)
  shape = features.front_end_from_any(config.mfcc).feature_shape
  state = mesh_lib.replicate(
      train.create_train_state(jax.random.key(0), config, NUM_WORDS, shape), mesh)
  step_fn, traces = train.make_train_step(config, mesh)
  rng = np.random.default_rng(jax.process_index())
  local = config.batch_size // jax.process_count()
  batches = [mesh_lib.shard_batch({
      "features": rng.standard_normal((local,) + shape, dtype=np.float32),
      "label": rng.integers(0, NUM_WORDS, local).astype(np.int32)}, mesh) for _ in range(4)]
  start = time.perf_counter()
  state, metrics = step_fn(state, batches[0])
  jax.block_until_ready(metrics)
  compile_seconds = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    for i in range(steps):
      state, metrics = step_fn(state, batches[i % len(batches)])
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  train.assert_compiled_once("train", traces)
  seconds = statistics.median(times)
  return {"config": config_name, "processes": jax.process_count(),
          "devices": int(mesh.devices.size), "device_kind": jax.devices()[0].device_kind,
          "batch_size": config.batch_size, "feature_shape": list(shape),
          "compile_seconds": round(compile_seconds, 2),
          "step_ms": round(1000 * seconds / steps, 3),
          "samples_per_second": round(steps * config.batch_size / seconds, 1)}
