"""Trustworthy checkpoints and edges: each failure reproduced first, then what is expected now.

1. Bytes flipped inside an array file: orbax alone reads the step and returns other weights; the
   checksums recorded at save catch it, restore falls back to the newest step that verifies.
2. A NaN right after resuming from a diverged step: the message names an earlier verified step,
   ``restore_step`` rolls back to it and training goes on (the newer steps are replaced).
3. The fallback prints one line per skipped step, not orbax's abandoned reads (stderr counted).
4. One seed rule: out-of-range and non-integer seeds and image counts are one clear error.
5. The launch scripts and console commands work from any folder after ``pip install``.
6. Edges: 8 kHz audio warns, ``metrics.jsonl`` holds each step once after a resume, the demo takes
   multipart uploads and words its caption limit for captions.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
import soundfile

import gan_fixtures
import kws_fixtures
from v2i_jax import audio
from v2i_jax import options
from v2i_jax import pipeline as pipeline_lib
from v2i_jax.demo import app as demo_app
from v2i_jax.speech import recognizer as recognizer_lib
from v2i_jax.speech import train as kws_train
from v2i_jax.training import checkpoint
from v2i_jax.training import loop
from v2i_jax.training import mesh as mesh_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# orbax reports a failed read of a damaged checkpoint once more from its event loop.
damaged_checkpoint = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """``(config, tones, cache, workdir)`` of the tone-word keyword run (checkpoints 30 and 40)."""
  config, tones, cache, workdir, _ = kws_fixtures.trained_tone_run(
      str(tmp_path_factory.getbasetemp() / "kws_tones"))
  return config, tones, cache, workdir


@pytest.fixture
def kws_copy(run, tmp_path):
  workdir = str(tmp_path / "kws")
  shutil.copytree(run[3], workdir)
  return workdir


def _flip_bytes(step_dir: str, count: int = 64) -> str:
  """Inverts ``count`` bytes in the middle of the step's largest array data file (bit rot)."""
  files = [f for f in glob.glob(os.path.join(step_dir, "state", "**", "d", "*"), recursive=True)
           if os.path.isfile(f)]
  biggest = max(files, key=os.path.getsize)
  with open(biggest, "r+b") as f:
    f.seek(os.path.getsize(biggest) // 2)
    data = f.read(count)
    f.seek(os.path.getsize(biggest) // 2)
    f.write(bytes(b ^ 0xFF for b in data))
  return biggest


def _target(config):
  return kws_train.state_to_save(kws_train.abstract_train_state(
      config, len(kws_fixtures.WORDS), (51, 13),
      mesh_lib.replicated_sharding(mesh_lib.make_mesh())))


def _raw_state(workdir: str, step: int):
  """What orbax alone reads from ``step`` (no checksum check)."""
  with ocp.StandardCheckpointer() as reader:
    return reader.restore(os.path.join(workdir, "checkpoints", str(step), "state"))


def _skips(caplog) -> list[str]:
  return [r.getMessage() for r in caplog.records if "skipping checkpoint" in r.getMessage()]


# ------------------------------------------------------------------ 1. checksums and fallback


@damaged_checkpoint
def test_flipped_bytes_load_silently_in_orbax_and_are_caught_by_the_checksums(
    run, kws_copy, caplog):
  _flip_bytes(os.path.join(kws_copy, "checkpoints", "40"))
  # The failure: orbax reads the damaged step without complaint, and its weights changed.
  before, after = _raw_state(run[3], 40), _raw_state(kws_copy, 40)
  changed = sum(int(np.sum(np.asarray(a) != np.asarray(b))) for a, b in zip(
      jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after)))
  assert changed > 0
  # Now: the checksums see it, the recogniser falls back to step 30 with one warning.
  with caplog.at_level(logging.WARNING):
    recognizer = recognizer_lib.Recognizer.restore(kws_copy)
  assert recognizer.step == 30
  skips = _skips(caplog)
  assert len(skips) == 1 and "step 40" in skips[0] and "fails its checksums" in skips[0], skips
  # Asked for by number, the damaged step is an error, not a silent load.
  with checkpoint.Checkpointer(os.path.join(kws_copy, "checkpoints"), create=False) as ckpt:
    with pytest.raises(checkpoint.ChecksumError, match=r"step 40 .* fails its checksums: \d+ of"):
      ckpt.restore(_target(run[0]), 40)


@damaged_checkpoint
def test_resume_skips_a_bit_rotted_step_and_replaces_it(run, kws_copy, caplog):
  _flip_bytes(os.path.join(kws_copy, "checkpoints", "40"))
  with caplog.at_level(logging.WARNING):
    results = kws_train.train_and_evaluate(run[0], kws_copy)
  assert results["resumed_from_step"] == 30 and results["steps"] == 40
  assert len(_skips(caplog)) == 1
  with checkpoint.Checkpointer(os.path.join(kws_copy, "checkpoints"), create=False) as ckpt:
    step, state, _ = ckpt.restore(_target(run[0]))  # the replaced step 40 verifies
    reference = ckpt.restore(_target(run[0]), 30)[1]
  assert step == 40
  del reference
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                         state["params"], _raw_state(run[3], 40)["params"])


def test_checkpoints_without_checksums_still_load_with_one_note(run, kws_copy, caplog):
  for step in ("30", "40"):  # as written before checksums existed
    path = os.path.join(kws_copy, "checkpoints", step, "meta", "metadata")
    with open(path) as f:
      meta = json.load(f)
    assert checkpoint.CHECKSUM_KEY in meta
    del meta[checkpoint.CHECKSUM_KEY]
    with open(path, "w") as f:
      json.dump(meta, f)
  with caplog.at_level(logging.WARNING):
    recognizer = recognizer_lib.Recognizer.restore(kws_copy)
  notes = [r.getMessage() for r in caplog.records if "no checksums" in r.getMessage()]
  assert recognizer.step == 40 and len(notes) == 1, notes


def test_checksums_name_every_array_and_change_with_one_value():
  tree = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": {"c": np.int32(3)}}
  sums = checkpoint.checksums(tree)
  assert set(sums) == {"a", "b/c"} and sums["a"].startswith("float32:")
  changed = {"a": tree["a"].copy(), "b": tree["b"]}
  changed["a"][1, 2] = np.nextafter(changed["a"][1, 2], np.float32(10))
  assert checkpoint.checksums(changed)["a"] != sums["a"]
  assert checkpoint.checksums(changed)["b/c"] == sums["b/c"]
  # Same bytes, other shape: another array.
  assert checkpoint.checksums({"a": tree["a"].reshape(3, 2)})["a"] != sums["a"]


# -------------------------------------------------------------- 2. NaN after resume, rollback


def test_nan_after_resuming_a_diverged_step_rolls_back_with_restore_step(run, kws_copy):
  """Step 50 holds a diverged state (an Inf weight) that verifies: resuming from it gives NaN
  before the next checkpoint. The message names step 40 and --restore_step=40; the rerun with it
  replaces step 50 and trains on to 60 with finite weights."""
  config = kws_fixtures.tiny_config(run[1], run[2])
  config.schedule.num_cycles = 3  # 60 steps
  directory = os.path.join(kws_copy, "checkpoints")
  with checkpoint.Checkpointer(directory, max_to_keep=config.checkpoints_to_keep) as ckpt:
    _, state, meta = ckpt.restore(_target(config))
    state = jax.tree_util.tree_map(lambda x: x, state)
    leaves, treedef = jax.tree_util.tree_flatten(state["params"])
    leaves[0] = np.full(leaves[0].shape, np.inf, leaves[0].dtype)
    state["params"] = jax.tree_util.tree_unflatten(treedef, leaves)
    ckpt.save(50, state, meta)
  with pytest.raises(loop.NonFiniteLossError) as raised:
    kws_train.train_and_evaluate(config, kws_copy)
  message = str(raised.value)
  assert "at step 55" in message and "after the resumed step 50" in message, message
  assert "rerun with --restore_step=40" in message, message

  results = kws_train.train_and_evaluate(config, kws_copy, restore_step=40)
  assert results["resumed_from_step"] == 40 and results["steps"] == 60
  with checkpoint.Checkpointer(directory, create=False) as ckpt:
    assert 50 in ckpt.all_steps() and ckpt.latest_step() == 60
    for step in (50, 60):
      params = ckpt.restore(_target(config), step)[1]["params"]
      assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(params)), step


def test_restore_step_that_is_missing_is_one_clear_error(run, kws_copy, tmp_path):
  with pytest.raises(checkpoint.CheckpointError, match=r"no checkpoint for step 35 .* have \[30, 40\]"):
    kws_train.train_and_evaluate(run[0], kws_copy, restore_step=35)
  with pytest.raises(checkpoint.CheckpointError, match="holds no checkpoint; drop --restore_step"):
    kws_train.train_and_evaluate(run[0], str(tmp_path / "fresh"), restore_step=10)


# ------------------------------------------------------------- 3. one line, not thousands


def _truncate_arrays(step_dir: str) -> None:
  for path in glob.glob(os.path.join(step_dir, "state", "**", "d", "*"), recursive=True):
    os.truncate(path, os.path.getsize(path) // 2)


def _generate(gan: str, out: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, "-m", "launch.generate", f"--gan_workdir={gan}",
                         "--text=cat", f"--out={out}", "--num_images=1"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)


def test_fallback_prints_one_line_per_skipped_step(tmp_path):
  gan = gan_fixtures.write_untrained_gan(str(tmp_path / "gan"), steps=(1, 2))
  _truncate_arrays(os.path.join(gan, "checkpoints", "2"))
  done = _generate(gan, str(tmp_path / "o.png"))
  lines = done.stderr.strip().splitlines()
  assert done.returncode == 0, done.stderr[-3000:]
  assert len(lines) == 1 and "skipping checkpoint step 2" in lines[0], done.stderr[-3000:]
  assert os.path.exists(tmp_path / "o.png")

  _truncate_arrays(os.path.join(gan, "checkpoints", "1"))  # now every step is damaged
  done = _generate(gan, str(tmp_path / "o2.png"))
  lines = done.stderr.strip().splitlines()
  assert done.returncode == 1, done.stderr[-3000:]
  assert len(lines) == 3, done.stderr[-3000:]  # two skips, then the error
  assert lines[-1].startswith("error: no readable checkpoint") and "[2, 1]" in lines[-1]


# ---------------------------------------------------------------------------- 4. seeds


@pytest.fixture(scope="module")
def pipe(run, tmp_path_factory):
  gan = gan_fixtures.write_untrained_gan(str(tmp_path_factory.mktemp("gan_seed") / "gan"))
  return pipeline_lib.Pipeline.restore(run[3], gan)


@pytest.mark.parametrize("seed,message", [
    (2**63, "seed=9223372036854775808 is out of range"),
    (2**32, "seed=4294967296 is out of range"),  # used to paint seed 0's pictures
    (-1, "seed=-1 is out of range"),  # used to paint seed 2^32 - 1's
    (1.5, "seed=1.5 is not a whole number"),
    (True, "seed=True is not a whole number"),
    ("ten", "seed='ten' is not a whole number"),
])
def test_one_seed_rule_in_the_api(pipe, seed, message):
  with pytest.raises(options.OptionError, match=message + "; use a whole number from 0 to "
                     "2147483647"):
    pipe.from_text("cat", seed=seed)
  with pytest.raises(options.OptionError, match=message):
    pipe(np.zeros(16000, np.float32), 16000, seed=seed)  # checked before any listening


@pytest.mark.parametrize("count,message", [(1.5, "num_images=1.5 is not a whole number"),
                                           (0, "num_images=0 is out of range"),
                                           (257, "num_images=257 is out of range")])
def test_num_images_rule_in_the_api(pipe, count, message):
  with pytest.raises(options.OptionError, match=message + "; use a whole number from 1 to 256"):
    pipe.from_text("cat", num_images=count)


def test_the_range_ends_paint(pipe):
  for seed in (0, options.MAX_SEED, np.int64(7), "12"):
    assert pipe.from_text("cat", num_images=1, seed=seed).images.shape == (1, 64, 64, 3)


def test_demo_gives_the_same_seed_message():
  for raw in ("4294967296", "1.5", "-1"):
    with pytest.raises(options.OptionError) as api:
      options.check_seed(raw)
    with pytest.raises(demo_app.InputError) as demo:
      demo_app.parse_options({"seed": raw}, demo_app.Settings())
    assert str(demo.value) == str(api.value)


# ------------------------------------------------------------------- 5. installed commands


def test_launch_scripts_and_console_commands_work_from_another_folder(tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env.update(JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
  done = subprocess.run([sys.executable, "-m", "launch.generate", "--help"], cwd=tmp_path,
                        env=env, capture_output=True, text=True, timeout=120)
  # absl's --help exits with code 1 after printing the usage.
  assert "--gan_workdir: GAN workdir" in done.stdout, (done.returncode, done.stderr[-2000:])
  bin_dir = os.path.dirname(sys.executable)
  for command in ("v2i-generate", "v2i-quickstart", "v2i-demo", "v2i-train-gan", "v2i-eval-gan"):
    assert os.path.exists(os.path.join(bin_dir, command)), command
  done = subprocess.run([os.path.join(bin_dir, "v2i-quickstart"), "--helpfull"], cwd=tmp_path,
                        env=env, capture_output=True, text=True, timeout=120)
  assert "--gan_config" in done.stdout, done.stderr[-2000:]
  # Its config defaults resolve to the installed files, not to ./configs of this folder.
  default = os.path.join(REPO, "configs", "gan_quick.py")
  assert repr(default) in done.stdout or repr(os.path.realpath(default)) in done.stdout


# ------------------------------------------------------------------------------ 6. edges


def test_band_limited_audio_warns_once(tmp_path, caplog):
  t = np.arange(8000) / 8000
  path = str(tmp_path / "phone.wav")
  soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000)
  with caplog.at_level(logging.WARNING):
    audio.load_audio(path)
  lines = [r.getMessage() for r in caplog.records if "band-limited" in r.getMessage()]
  assert len(lines) == 1 and "8000 Hz" in lines[0] and "\n" not in lines[0], lines
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    audio.prepare_waveform(np.zeros(16000, np.float32) + 0.1, 16000)
  assert not caplog.records


def test_metrics_hold_each_step_once_after_a_resume(run, kws_copy):
  shutil.rmtree(os.path.join(kws_copy, "checkpoints", "40"))  # killed after logging step 40
  kws_train.train_and_evaluate(run[0], kws_copy)
  steps = [row["step"] for row in loop.read_metrics(kws_copy) if "loss" in row]
  assert steps == sorted(set(steps)) and steps[-1] == 40, steps


def _multipart(fields: dict[str, tuple[str | None, bytes]]) -> tuple[bytes, str]:
  boundary = "v2iTestBoundary"
  body = b""
  for name, (filename, data) in fields.items():
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    body += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
             "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
  return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_demo_reads_multipart_uploads():
  wav = b"RIFF....WAVEfmt fake"
  body, content_type = _multipart({"seed": (None, b"3"), "file": ("clip.wav", wav)})
  assert demo_app.audio_of_request(body, content_type, None) == (wav, "clip.wav")
  assert demo_app.audio_of_request(wav, "audio/wav", "x.wav") == (wav, "x.wav")
  body, content_type = _multipart({"seed": (None, b"3")})
  with pytest.raises(demo_app.InputError, match=r"holds no file .*curl -F file=@clip.wav"):
    demo_app.audio_of_request(body, content_type, None)


@damaged_checkpoint
def test_a_bit_rotted_gan_step_falls_back_for_inference(tmp_path, caplog):
  from v2i_jax.image import sampling  # pylint: disable=g-import-not-at-top
  gan = gan_fixtures.write_untrained_gan(str(tmp_path / "gan"), steps=(1, 2))
  _flip_bytes(os.path.join(gan, "checkpoints", "2"), count=16)
  with caplog.at_level(logging.WARNING):
    painter = sampling.Painter.restore(gan)
  skips = _skips(caplog)
  assert painter.step == 1 and len(skips) == 1 and "step 2" in skips[0], skips


def test_demo_warm_up_survives_a_model_that_hears_noise_as_noise(pipe):
  """The quickstart's keyword model has a noise class: it hears the warm-up burst as no keyword,
  which used to stop launch.demo from starting at all."""
  class NoiseHearing:
    keywords = pipe.recognizer.keywords
    calls = 0

    def transcribe_segments(self, waveform):
      NoiseHearing.calls += 1
      raise recognizer_lib.RecognitionError("found 1 spoken part(s) but no keyword in them")

  demo_app.warm_up(pipeline_lib.Pipeline(painter=pipe.painter, vectors=pipe.vectors,
                                         recognizer=NoiseHearing()), 1)
  assert NoiseHearing.calls == 1


def test_cpu_description_names_the_vector_extensions():
  from v2i_jax.training import cpu  # pylint: disable=g-import-not-at-top
  text = cpu.describe()
  assert f"{os.cpu_count()} cores" in text and cpu.model_name() in text
  if os.path.exists("/proc/cpuinfo"):
    assert ("AVX512F" in text) == cpu.has_avx512()
    assert cpu.has_avx512() or "(no AVX-512)" in text
