"""Multi-process training with jax.distributed: two local CPU processes (one device each, gloo
collectives, coordinator on 127.0.0.1) run launch/train_kws.py on tone words, finish with
identical parameters, follow the loss curve of a single-process run with the same global batch
and seed, and resume collectively from an orbax checkpoint to the same bits. Also: the flags' checks, scheduler
detection, and that the per-process input slices put together are the single-process batch."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import kws_fixtures
from v2i_jax.speech import input_pipeline
from v2i_jax.speech import train
from v2i_jax.text import gan_input
from v2i_jax.text.types import CaptionedImages
from v2i_jax.training import distributed
from v2i_jax.training import loop
from v2i_jax.training import mesh as mesh_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 1 cycle of 10 steps up and 10 down: 20 steps of global batch 8, checkpoints at 10 and 20.
OVERRIDES = {"log_every_steps": 1, "checkpoint_every_steps": 10, "eval_every_steps": 1000}
SCHEDULE = {"num_cycles": 1}
# The two-process run splits each batch over 2 devices in 2 processes and sums the gradient with
# gloo; the reference splits it over 2 devices of one process. The maths is the same, but a
# different reduction order may change the last bits of a float32 sum, and 20 optimizer steps can
# grow that; measured: the curves agree exactly against 2 devices in one process and within
# 4e-7 against 1 device (benchmarks/multiprocess.py). 1e-5 relative leaves room for other BLAS
# and reduction orders while still catching any wrong batch (a different batch moves the loss by
# 1e-2 or more).
LOSS_RTOL = 1e-5

# Runs launch/train_kws.py's main in a child and saves this process's copy of the final
# parameters (taken where the loop hands the state to the collective checkpoint save). Then it
# drops the last checkpoint and trains again in the same job: both processes restore step 10
# together and redo steps 11-20 (a second job would double the test's time, mostly imports).
CHILD = textwrap.dedent("""
    import os
    import shutil
    import sys
    import numpy as np
    from absl import app
    from absl import flags
    import jax
    from jax.experimental import multihost_utils
    from launch import train_kws
    from v2i_jax.speech import train
    from v2i_jax.training import mesh as mesh_lib

    out_prefix = sys.argv.pop(1)
    saved = {}
    to_save = train.state_to_save
    def spy(state):
      saved["params"] = state.params
      return to_save(state)
    train.state_to_save = spy

    def dump(name):
      local = jax.tree_util.tree_flatten_with_path(mesh_lib.local_replica(saved["params"]))[0]
      np.savez(f"{out_prefix}_{name}_{jax.process_index()}.npz",
               **{jax.tree_util.keystr(k): np.asarray(v) for k, v in local})

    def main(argv):
      train_kws.main(argv)
      dump("run")
      workdir = flags.FLAGS.workdir
      multihost_utils.sync_global_devices("trained")
      if jax.process_index() == 0:
        shutil.rmtree(os.path.join(workdir, "checkpoints", "20"))
      multihost_utils.sync_global_devices("dropped the last checkpoint")
      results = train.train_and_evaluate(flags.FLAGS.config, workdir)
      assert results["resumed_from_step"] == 10, results["resumed_from_step"]
      dump("resumed")

    app.run(main)
""")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _child_env() -> dict[str, str]:
  """One CPU device per child: conftest forces 2 in this process through XLA_FLAGS."""
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=1")
  env.pop("TQDM_DISABLE", None)
  return env


def _start_processes(tmp, config_flags, workdir):
  port = _free_port()
  children = []
  for pid in range(2):
    log = open(os.path.join(tmp, f"process_{pid}.log"), "w")
    command = [sys.executable, "-c", CHILD, os.path.join(tmp, "params"),
               "--config", os.path.join(REPO, "configs", "kws_tiny.py"), "--workdir", workdir,
               f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
               f"--process_id={pid}", *config_flags]
    children.append((subprocess.Popen(command, cwd=REPO, env=_child_env(), stdout=log,
                                      stderr=subprocess.STDOUT), log))
  return children


def _wait(tmp, children):
  outputs = []
  for pid, (child, log) in enumerate(children):
    try:
      child.wait(timeout=240)
    except subprocess.TimeoutExpired:
      for other, _ in children:
        other.kill()
      child.wait()
    log.close()
    with open(os.path.join(tmp, f"process_{pid}.log")) as f:
      text = f.read()
    assert child.returncode == 0, f"process {pid} failed ({child.returncode}):\n{text[-3000:]}"
    outputs.append(text)
  return outputs


def _params(path):
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def test_two_processes_match_one_and_resume(tmp_path, monkeypatch):
  tmp = str(tmp_path)
  data_dir = kws_fixtures.make_tone_dataset(os.path.join(tmp, "tones"))
  cache_dir = os.path.join(tmp, "cache")
  config = kws_fixtures.tiny_config(data_dir, cache_dir, **OVERRIDES)
  config.schedule.update(SCHEDULE)
  data = train.load_data(config)  # Builds the MFCC cache once, before the children read it.
  flags = [f"--config.data_dir={data_dir}", f"--config.cache_dir={cache_dir}"]
  flags += [f"--config.{k}={v}" for k, v in OVERRIDES.items()]
  flags += [f"--config.schedule.{k}={v}" for k, v in SCHEDULE.items()]
  workdir = os.path.join(tmp, "two")
  children = _start_processes(tmp, flags, workdir)

  # The reference trains in this process (2 devices) while the children run.
  saved = {}
  to_save = train.state_to_save
  monkeypatch.setattr(train, "state_to_save",
                      lambda state: saved.update(params=state.params) or to_save(state))
  reference_dir = os.path.join(tmp, "one")
  reference = train.train_and_evaluate(config, reference_dir, data=data)
  reference_params = {jax.tree_util.keystr(k): np.asarray(v) for k, v in
                      jax.tree_util.tree_flatten_with_path(saved["params"])[0]}

  outputs = _wait(tmp, children)
  summary = json.loads(next(line for line in outputs[0].splitlines()
                             if line.startswith('{"workdir"')))
  assert summary["steps"] == 20 and summary["resumed_from_step"] == 0
  assert "\"workdir\"" not in outputs[1]  # Only process 0 prints the summary ...
  assert sorted(os.listdir(workdir)) == sorted(os.listdir(reference_dir))  # ... and writes.
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  assert results["processes"] == 2 and results["devices"] == 2
  assert results["train_step_compilations"] == 1
  assert results["test"]["count"] == reference["test"]["count"]  # every clip scored once

  first, second = (_params(os.path.join(tmp, f"params_run_{p}.npz")) for p in range(2))
  assert first.keys() == second.keys() == reference_params.keys()
  for key in first:
    np.testing.assert_array_equal(first[key], second[key], err_msg=key)  # replicas stay equal
    np.testing.assert_allclose(first[key], reference_params[key], rtol=1e-4, atol=1e-6,
                               err_msg=key)
  for pid in range(2):  # Restored collectively from step 10, steps 11-20 again: the same bits.
    resumed = _params(os.path.join(tmp, f"params_resumed_{pid}.npz"))
    for key in first:
      np.testing.assert_array_equal(resumed[key], first[key], err_msg=key)

  # The resume from step 10 replaced the rows of steps 11-20 (each step is logged once); their
  # losses, from the resumed run, still follow the one-process curve.
  rows = [r for r in loop.read_metrics(workdir) if "loss" in r]
  assert [r["step"] for r in rows] == list(range(1, 21))
  losses = [r["loss"] for r in rows]
  reference_losses = [r["loss"] for r in loop.read_metrics(reference_dir) if "loss" in r]
  np.testing.assert_allclose(losses, reference_losses, rtol=LOSS_RTOL)
  assert losses[-1] < 0.5 * losses[0]  # it learned


def test_process_slices_make_the_single_process_batch():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(40, 5, 3)).astype(np.float32)
  y = np.arange(40, dtype=np.int32)

  def take(iterator, n):
    return [next(iterator) for _ in range(n)]

  whole = take(input_pipeline.train_batches(x, y, 8, seed=2, start_step=3), 6)
  parts = [take(input_pipeline.train_batches(x, y, 8, seed=2, start_step=3, process_index=p,
                                             process_count=2), 6) for p in range(2)]
  for step, batch in enumerate(whole):
    for key in batch:
      np.testing.assert_array_equal(
          np.concatenate([parts[0][step][key], parts[1][step][key]]), batch[key])
  whole = list(input_pipeline.eval_batches(x, y, 16))
  parts = [list(input_pipeline.eval_batches(x, y, 16, p, 2)) for p in range(2)]
  for batch, a, b in zip(whole, *parts, strict=True):
    for key in batch:
      np.testing.assert_array_equal(np.concatenate([a[key], b[key]]), batch[key])
  with pytest.raises(ValueError, match="not divisible by the 3 processes"):
    input_pipeline.process_rows(8, 0, 3)

  images = rng.integers(0, 255, (12, 64, 64, 3), dtype=np.uint8)
  data = CaptionedImages(images=images, captions=[(f"caption {i}",) for i in range(12)])
  emb = gan_input.CaptionEmbeddings(rng.normal(size=(12, 4)).astype(np.float32),
                                    np.arange(12), np.ones(12, np.int64), "test", "test")
  whole = gan_input.GanInput(data, emb, batch_size=4, seed=1, random_flip=True).batch(5)
  parts = [gan_input.GanInput(data, emb, batch_size=4, seed=1, random_flip=True,
                              process_index=p, process_count=2).batch(5) for p in range(2)]
  for key in whole:
    np.testing.assert_array_equal(np.concatenate([parts[0][key], parts[1][key]]), whole[key])


def test_flags_are_checked_before_joining():
  with pytest.raises(distributed.DistributedSetupError, match="--num_processes, --process_id"):
    distributed.initialize(coordinator_address="127.0.0.1:1234")
  with pytest.raises(distributed.DistributedSetupError, match="different id"):
    distributed.initialize("127.0.0.1:1234", num_processes=2, process_id=2)
  with pytest.raises(distributed.DistributedSetupError, match="HOST:PORT"):
    distributed.initialize("127.0.0.1", num_processes=2, process_id=0)
  assert distributed.initialize(environ={}) == "single"
  slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "node[1-2]", "SLURM_PROCID": "0",
           "SLURM_LOCALID": "0", "SLURM_NTASKS": "2"}
  assert distributed.detect_scheduler(slurm) == "slurm"
  assert distributed.detect_scheduler(dict(slurm, SLURM_NTASKS="1")) is None
  assert distributed.detect_scheduler({"OMPI_MCA_orte_hnp_uri": "x",
                                       "OMPI_COMM_WORLD_SIZE": "4"}) == "openmpi"
  assert distributed.detect_scheduler({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "2"}) is None


def test_to_host_and_local_replica_on_one_process():
  mesh = mesh_lib.make_mesh()
  batch = mesh_lib.shard_batch({"x": np.arange(8.0)}, mesh)
  np.testing.assert_array_equal(mesh_lib.to_host(batch["x"]), np.arange(8.0))
  params = mesh_lib.replicate({"w": np.ones(3)}, mesh)
  local = mesh_lib.local_replica(params)
  assert len(local["w"].devices()) == 1 and local["w"].shape == (3,)
