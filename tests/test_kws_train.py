"""Tiny real keyword training on tone "words": it learns, runs sharded on 2 devices and compiles
once, stops on NaN, and a SIGKILLed launch script resumes from its checkpoint to exactly the
parameters of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import kws_fixtures
from v2i_jax.speech import train
from v2i_jax.training import checkpoint
from v2i_jax.training import loop
from v2i_jax.training import mesh as mesh_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  return kws_fixtures.trained_tone_run(str(tmp_path_factory.getbasetemp() / "kws_tones"))


def _final_params(config, workdir, step):
  target = train.abstract_train_state(config, len(kws_fixtures.WORDS), (51, 13),
                                      mesh_lib.replicated_sharding(mesh_lib.make_mesh()))
  with checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), create=False) as ckpt:
    _, state, _ = ckpt.restore(train.state_to_save(target), step)
  return state["params"]


def test_training_learns_sharded_compiles_once_and_writes_reports(trained):
  config, _, _, workdir, results = trained
  assert len(jax.devices()) == results["devices"] == 2
  assert results["train_step_compilations"] == 1
  assert results["steps"] == train.num_train_steps(config) == 40
  rows = [r for r in loop.read_metrics(workdir) if "loss" in r]
  assert rows[-1]["step"] == 40
  assert rows[-1]["cross_entropy"] < 0.5 * rows[0]["cross_entropy"]
  assert any("val_accuracy" in r for r in loop.read_metrics(workdir))
  assert results["test"]["accuracy"] >= 2 / 3  # chance is 1/3; held-out speakers
  assert results["test"]["count"] == 3 * kws_fixtures.HELD_OUT_SPEAKERS
  assert Image.open(os.path.join(workdir, "confusion_matrix.png")).size[0] > 100
  with open(os.path.join(workdir, "per_word_accuracy.md")) as f:
    table = f.read()
  assert all(f"| {w} |" in table for w in kws_fixtures.WORDS)
  with open(os.path.join(workdir, "per_word_accuracy.json")) as f:
    assert sum(v["count"] for v in json.load(f).values()) == results["test"]["count"]
  with checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), create=False) as ckpt:
    meta = ckpt.restore_meta()
  assert meta["words"] == list(kws_fixtures.WORDS) and len(meta["feature_std"]) == 13
  assert meta["config"]["model"]["hidden_sizes"] == [32, 16]


def test_killed_launch_resumes_to_the_uninterrupted_result(trained, tmp_path):
  config, data_dir, cache_dir, reference_workdir, _ = trained
  workdir = tmp_path / "killed"
  command = [sys.executable, "-m", "launch.train_kws", "--config", "configs/kws_tiny.py",
             f"--workdir={workdir}", f"--config.data_dir={data_dir}",
             f"--config.cache_dir={cache_dir}"]
  # The restart reuses the first process's compilations, as a real restart on one machine can.
  env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax_cache"),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
  first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
  first_checkpoint = workdir / "checkpoints" / "10"  # orbax renames it into place when complete
  deadline = time.time() + 240
  while not first_checkpoint.exists() and first.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  first.send_signal(signal.SIGKILL)
  _, stderr = first.communicate()
  assert first.returncode == -signal.SIGKILL, stderr.decode()[-3000:]

  second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert second.returncode == 0, second.stderr[-3000:]
  summary = json.loads(second.stdout.strip().splitlines()[-1])
  assert summary["resumed_from_step"] in (10, 20, 30)
  assert summary["steps"] == 40
  # Batches and rngs are functions of (seed, step): the resumed run ends where the
  # uninterrupted one did.
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
      _final_params(config, workdir, 40), _final_params(config, reference_workdir, 40))


def test_nan_guard_stops_with_a_clear_message(trained, tmp_path):
  _, data_dir, cache_dir, _, _ = trained
  config = kws_fixtures.tiny_config(data_dir, cache_dir, weight_decay=float("nan"))
  with pytest.raises(loop.NonFiniteLossError, match="at step 5; no checkpoint"):
    train.train_and_evaluate(config, str(tmp_path / "nan"))


def test_compile_counter_catches_a_retrace():
  train.assert_compiled_once("train", {"count": 1})
  with pytest.raises(train.CompiledMoreThanOnceError, match="compiled 2 times"):
    train.assert_compiled_once("train", {"count": 2})


def test_weight_decay_is_l2_on_kernels_only():
  params = {"Dense_0": {"kernel": jnp.full((2, 3), 2.0), "bias": jnp.ones(3)},
            "BatchNorm_0": {"scale": jnp.ones(3)}}
  assert float(train.l2_penalty(params)) == pytest.approx(6 * 4.0)


def test_augment_shifts_and_masks_with_zeros():
  config = kws_fixtures.tiny_config("unused", "unused")
  config.augment.update(time_shift_frames=3, time_mask_frames=4, freq_mask_coeffs=2)
  x = jnp.ones((64, 20, 6))
  y = np.asarray(jax.jit(lambda k, x: train.augment(k, x, config))(jax.random.key(0), x))
  assert set(np.unique(y)) <= {0.0, 1.0}
  zero_frames = (y == 0).all(axis=2).sum(axis=1)
  assert zero_frames.max() <= 3 + 4 and zero_frames.max() > 0
  config.augment.update(time_shift_frames=0, time_mask_frames=0, freq_mask_coeffs=0)
  np.testing.assert_array_equal(train.augment(jax.random.key(0), x, config), x)


def test_mixup_and_label_smoothing_targets():
  labels = jnp.asarray([0, 2, 1, 2])
  smooth = np.asarray(train.soft_targets(labels, 3, smoothing=0.3))
  np.testing.assert_allclose(smooth.sum(-1), 1.0, rtol=1e-6)
  np.testing.assert_allclose(smooth[0], [0.8, 0.1, 0.1], rtol=1e-6)
  assert train.mixup_pairs(jax.random.key(0), 4, 0.0) is None
  lam, partner = train.mixup_pairs(jax.random.key(0), 4, 0.4)
  again = train.mixup_pairs(jax.random.key(0), 4, 0.4)
  np.testing.assert_array_equal(lam, again[0])  # Deterministic for a key.
  assert sorted(np.asarray(partner).tolist()) == [0, 1, 2, 3] and ((lam >= 0) & (lam <= 1)).all()
  x = jnp.arange(8.0).reshape(4, 2)
  mixed = np.asarray(train.mix_examples(x, lam, partner))
  l = np.asarray(lam)[:, None]
  np.testing.assert_allclose(mixed, l * np.asarray(x) + (1 - l) * np.asarray(x)[np.asarray(partner)],
                             rtol=1e-6)
  targets = np.asarray(train.soft_targets(labels, 3, 0.0, (lam, partner)))
  np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-6)
  np.testing.assert_allclose(targets[np.arange(4), np.asarray(labels)] >= np.asarray(lam) - 1e-6,
                             True)


def test_search_ranks_on_validation_resumes_and_survives_divergence(monkeypatch, tmp_path):
  from v2i_jax.speech import search  # pylint: disable=g-import-not-at-top
  calls = []

  def fake_train(config, workdir, data):
    # Stand-in for a training run: validation accuracy peaks at weight_decay 1e-3, and a
    # rate above 0.5 diverges.
    calls.append(os.path.basename(workdir))
    if config.schedule.eta_max > 0.5:
      raise loop.NonFiniteLossError("nan")
    accuracy = 1.0 - abs(np.log10(config.weight_decay) + 3) / 10
    return {"steps": train.num_train_steps(config), "train_seconds_this_run": 1.0,
            "validation": {"accuracy": accuracy, "loss": 1 - accuracy}}

  class FakeData:
    splits = {"validation": (np.zeros((4, 2, 2)), np.zeros(4))}

  monkeypatch.setattr(search.train, "train_and_evaluate", fake_train)
  monkeypatch.setattr(search.train, "load_data", lambda config: FakeData())
  base = kws_fixtures.tiny_config("unused", "unused")
  best = search.run_search(base, str(tmp_path), num_coarse=8, num_fine=4, seed=1)
  rows = search.read_trials(str(tmp_path / "trials.csv"))
  assert len(rows) == 12 and len(calls) == 12
  assert {r["status"] for r in rows if r["eta_max"] > 0.5} <= {"diverged"}
  ok = [r for r in rows if r["status"] == "ok"]
  assert best["val_accuracy"] == max(r["val_accuracy"] for r in ok)
  coarse_best = max((r for r in ok if r["phase"] == "coarse"), key=lambda r: r["val_accuracy"])
  for r in rows[8:]:  # fine trials stay within half a decade of the best coarse trial
    assert abs(np.log10(r["weight_decay"] / coarse_best["weight_decay"])) <= 0.5
    assert r["num_cycles"] == coarse_best["num_cycles"]
  with open(tmp_path / "best_overrides.txt") as f:
    assert f"--config.weight_decay={best['weight_decay']}" in f.read()
  with open(tmp_path / "best_config.json") as f:
    assert json.load(f)["schedule"]["step_size"] == best["step_size"]
  # A rerun finds every trial in the CSV and trains nothing.
  assert search.run_search(base, str(tmp_path), 8, 4, seed=1)["trial"] == best["trial"]
  assert len(calls) == 12
