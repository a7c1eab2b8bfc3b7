"""GAN training on the tiny config over the 2-device mesh: one real step, compile-once, loop
outputs, NaN guard, resume in-process and after a SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest
from jax.experimental.compilation_cache import compilation_cache

from configs import gan_tiny
from v2i_jax.image import train
from v2i_jax.training import checkpoint as checkpoint_lib
from v2i_jax.training import loop as loop_lib
from v2i_jax.training import mesh as mesh_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module", autouse=True)
def compilation_cache_dir(tmp_path_factory):
  """The loop, the step test and the killed subprocess compile the same step: compile it once
  (a persistent cache scoped to this module; restored afterwards)."""
  path = str(tmp_path_factory.mktemp("jax_cache"))
  old = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  compilation_cache.reset_cache()
  yield path
  jax.config.update("jax_compilation_cache_dir", old[0])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", old[1])
  compilation_cache.reset_cache()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("gan_tiny"))
  config = gan_tiny.get_config()
  state = train.train_and_evaluate(config, workdir, batches=train.synthetic_batches(config))
  return config, workdir, state


def test_step_runs_sharded_compiles_once_and_learns():
  config = gan_tiny.get_config()
  mesh = mesh_lib.make_mesh()
  assert mesh.devices.size == 2
  state = mesh_lib.replicate(train.create_train_state(jax.random.PRNGKey(0), config), mesh)
  initial_g = np.asarray(jax.tree_util.tree_leaves(state.g_params)[-1]).copy()
  initial_d = np.asarray(state.d_params["convs_1"]["kernel"]).copy()
  batch = next(train.synthetic_batches(config))
  rng = mesh_lib.replicate(jax.random.PRNGKey(1), mesh)
  step = train.CompiledStep(config, mesh)
  losses = []
  for _ in range(3):  # The same batch three times: D's loss on it must move.
    state, metrics = step(state, mesh_lib.shard_batch(batch, mesh), rng)
    losses.append(float(metrics["d_loss"]))
  assert step.traces == 1
  assert int(state.step) == 3
  assert set(metrics) == {"d_loss", "g_loss", "d_real", "d_wrong", "d_fake", "kl"}
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert len(set(losses)) == 3
  assert not np.allclose(initial_d, state.d_params["convs_1"]["kernel"])
  assert not np.allclose(initial_g, jax.tree_util.tree_leaves(state.g_params)[-1])
  assert state.d_params["convs_1"]["kernel"].sharding.is_fully_replicated
  smaller = {k: v[:4] for k, v in batch.items()}
  with pytest.raises(train.RetraceError, match="compiled a second time"):
    step(state, mesh_lib.shard_batch(smaller, mesh), rng)


def test_loop_writes_checkpoints_samples_and_curves(trained):
  config, workdir, state = trained
  assert int(state.step) == config.num_train_steps
  rows = loop_lib.read_metrics(workdir)
  assert [r["step"] for r in rows] == [1, 2, 3, 4]
  assert len({r["d_loss"] for r in rows}) == 4
  with checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints")) as ckpt:
    assert ckpt.all_steps() == [2, 4]
    meta = ckpt.restore_meta()
  assert meta["embedding_source"] == config.embedding_source
  assert meta["embedding_dim"] == config.embedding_dim
  from PIL import Image
  grid = np.asarray(Image.open(os.path.join(workdir, "samples", "step_000004.png")))
  # Two caption rows of 64-px images, label column plus two 64-px samples per row, 2-px gaps.
  assert grid.shape == (2 * 66 + 2, 72 + 2 * 66 + 2, 3)
  assert grid[2:66, 74:138].std() > 0  # G drew something, not a flat colour.
  assert os.path.getsize(os.path.join(workdir, "loss_curves.png")) > 0


def test_resume_in_process_continues_from_last_checkpoint(trained):
  config, workdir, _ = trained
  config = gan_tiny.get_config()
  config.num_train_steps = 6
  state = train.train_and_evaluate(config, workdir, batches=train.synthetic_batches(config))
  assert int(state.step) == 6
  assert [r["step"] for r in loop_lib.read_metrics(workdir)] == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_another_model(trained):
  _, workdir, _ = trained
  config = gan_tiny.get_config()
  config.embedding_source = "word2vec:other.bin:1:all"
  with pytest.raises(checkpoint_lib.CheckpointError, match="embedding_source"):
    train.train_and_evaluate(config, workdir, batches=train.synthetic_batches(config))


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  config = gan_tiny.get_config()
  config.num_train_steps = 6

  def batches():
    for i, batch in enumerate(train.synthetic_batches(config)):
      if i == 2:
        batch["image"][:] = np.nan
      yield batch

  with pytest.raises(loop_lib.NonFiniteLossError, match="last good checkpoint is step 2"):
    train.train_and_evaluate(config, str(tmp_path), batches=batches())
  with checkpoint_lib.Checkpointer(os.path.join(tmp_path, "checkpoints")) as ckpt:
    assert ckpt.all_steps() == [2]


def test_bad_batch_shape_is_named():
  config = gan_tiny.get_config()
  batch = next(train.synthetic_batches(config))
  batch["embedding"] = batch["embedding"][:, :3]
  with pytest.raises(train.GANDataError, match="embedding_dim"):
    train.check_batch(batch, config)


def test_resume_after_kill(tmp_path, compilation_cache_dir):
  workdir = str(tmp_path / "run")
  script = textwrap.dedent(f"""
      import jax
      jax.config.update("jax_compilation_cache_dir", {compilation_cache_dir!r})
      jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
      from configs import gan_tiny
      from v2i_jax.image import train
      config = gan_tiny.get_config()
      config.num_train_steps = 100000
      train.train_and_evaluate(config, {workdir!r}, batches=train.synthetic_batches(config))
  """)
  env = dict(os.environ, PYTHONPATH=REPO)
  child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  checkpoints = os.path.join(workdir, "checkpoints")
  try:
    deadline = time.time() + 120
    while time.time() < deadline:
      steps = [int(s) for s in (os.listdir(checkpoints) if os.path.isdir(checkpoints) else [])
               if s.isdigit()]
      if any(s >= 4 for s in steps):
        break
      assert child.poll() is None, "the training subprocess died before its first checkpoints"
      time.sleep(0.2)
    else:
      pytest.fail("no checkpoint within 120 s")
  finally:
    child.send_signal(signal.SIGKILL)
    child.wait()
  killed_at = max(r["step"] for r in loop_lib.read_metrics(workdir))
  config = gan_tiny.get_config()
  config.num_train_steps = killed_at + 2
  with checkpoint_lib.Checkpointer(checkpoints) as ckpt:
    resume_from = ckpt.latest_step()
  state = train.train_and_evaluate(config, workdir, batches=train.synthetic_batches(config))
  assert int(state.step) == killed_at + 2
  steps = [r["step"] for r in loop_lib.read_metrics(workdir)]
  # The rerun logs from the restored checkpoint on, not from step 1.
  assert steps[-(killed_at + 2 - resume_from):] == list(range(resume_from + 1, killed_at + 3))
  assert steps == sorted(set(steps))  # the rows after the checkpoint, redone, appear once


def test_checkpoints_from_before_later_fields_still_resume():
  config = gan_tiny.get_config()  # the paper's D (batch norm, linear head)
  saved = train.checkpoint_meta(config)
  for field in ("d_norm", "d_joint", "d_classes"):  # written before these fields existed
    del saved["architecture"][field]
  train.check_resumable(saved, config, "old")  # the paper's D then and now: same model
  config.d_norm = "spectral"
  with pytest.raises(checkpoint_lib.CheckpointError, match="holds a GAN with architecture"):
    train.check_resumable(saved, config, "old")
  # The message names the fields that differ, as the overrides that would resume the run.
  with pytest.raises(checkpoint_lib.CheckpointError, match="to resume it: --config.d_norm='batch'"):
    train.check_resumable(saved, config, "old")


def test_classifier_head_and_l1_term(compilation_cache_dir):
  """AC-GAN option: D's classifier learns the real images' labels on a fixed batch, G gets the
  class loss of its fakes and the L1 term, and a label outside 0 .. d_classes - 1 is refused."""
  del compilation_cache_dir
  config = gan_tiny.get_config()
  config.d_classes = 4
  config.class_loss_weight = 1.0
  config.l1_weight = 1.0
  mesh = mesh_lib.make_mesh()
  state = mesh_lib.replicate(train.create_train_state(jax.random.PRNGKey(0), config), mesh)
  batch = next(train.synthetic_batches(config))
  assert batch["label"].shape == (config.batch_size,)
  train.check_batch(batch, config)
  rng = mesh_lib.replicate(jax.random.PRNGKey(1), mesh)
  step = train.CompiledStep(config, mesh)
  d_class = []
  for _ in range(12):
    state, metrics = step(state, mesh_lib.shard_batch(batch, mesh), rng)
    d_class.append(float(metrics["d_class"]))
  assert {"d_class", "g_class", "real_class_acc", "fake_class_acc", "g_l1"} <= set(metrics)
  # Cross-entropy starts near log(4) and falls on a batch it sees again and again.
  assert abs(d_class[0] - np.log(4)) < 0.5 and d_class[-1] < 0.5 * d_class[0], d_class
  assert float(metrics["real_class_acc"]) == 1.0
  # G's loss includes the class and L1 terms (random images: |fake - real| is about 0.5-1).
  assert 0.3 < float(metrics["g_l1"]) < 1.5
  assert float(metrics["g_loss"]) > float(metrics["g_class"]) + float(metrics["g_l1"])
  bad = dict(batch, label=np.full(config.batch_size, 4, np.int32))
  with pytest.raises(train.GANDataError, match="class ids in 0 .. config.d_classes - 1 = 3"):
    train.check_batch(bad, config)
  config.dataset = "flickr30k"
  config.d_classes = 36
  with pytest.raises(train.GANConfigError, match="needs the emoji data set's 36 classes"):
    train.default_batches(config)


def test_hinge_loss_diff_augment_and_mode_seeking_step(compilation_cache_dir):
  """The recipe options (hinge, DiffAugment, mode seeking, best-of-3 L1 at 16x16, conditional
  BN in G) train on the 2-device mesh: finite losses, the mode-seeking metric, the same result
  for the same seed, and config typos named."""
  del compilation_cache_dir
  config = gan_tiny.get_config()
  config.loss = "hinge"
  config.diff_augment = ("color", "translation", "cutout")
  config.mode_seeking_weight = 1.0
  config.l1_weight, config.l1_samples, config.l1_resolution = 1.0, 3, 16
  config.g_conditional_bn = True
  mesh = mesh_lib.make_mesh()
  batch = mesh_lib.shard_batch(next(train.synthetic_batches(config)), mesh)
  rng = mesh_lib.replicate(jax.random.PRNGKey(1), mesh)
  runs = []
  for _ in range(2):  # Twice from scratch, each with its own compiled step.
    step = train.CompiledStep(config, mesh)
    state = mesh_lib.replicate(train.create_train_state(jax.random.PRNGKey(0), config), mesh)
    for _ in range(3):
      state, metrics = step(state, batch, rng)
    runs.append(jax.device_get(metrics))
  assert "g_mode_seeking" in runs[0] and float(runs[0]["g_mode_seeking"]) > 0
  # The best of 3 samples is closer to the real image than one sample is, on average.
  assert 0.0 < float(runs[0]["g_l1"]) < 1.5
  assert all(np.isfinite(float(v)) for v in runs[0].values())
  for key in runs[0]:
    np.testing.assert_allclose(runs[0][key], runs[1][key], rtol=1e-5)
  for field, value, message in (("loss", "wgan", "use one of"),
                                ("diff_augment", ("flip",), "unknown DiffAugment parts"),
                                ("mode_seeking_weight", -1.0, "use 0"),
                                ("l1_samples", 0, "use 1"),
                                ("l1_resolution", 48, "a power of 2")):
    bad = gan_tiny.get_config()
    bad[field] = value
    with pytest.raises(train.GANConfigError, match=message):
      train.check_config(bad)

