"""Bad inputs at every entry point: each gets exit code 1 (CLI) or one of v2i_jax.errors.USER_ERRORS
(Python API) with a message that names the problem, and never a traceback. Also: a half-written
newest checkpoint (resume falls back to the previous one, nothing lost), a NaN after a checkpoint
(the message names the step and that checkpoint), and safe loading (no unpickling; nothing
written outside the workdir and the data cache).

Some inputs are accepted by design and asserted to work: stereo (mixed down), 8 kHz and 48 kHz
(resampled), read-only model workdirs for inference.

How the environment cases are made (real kernel errors, no monkeypatching): a read-only workdir is
a read-only bind mount and a full disk a small tmpfs (filled up, or too small for a checkpoint),
both inside ``unshare --user --map-root-user --mount``, so they need no root and vanish with the
process. Where user namespaces are unavailable those cases are skipped, saying why.

Speed: the CLI cases are independent subprocesses, started (3 at a time) by one autouse fixture
as soon as the tiny models exist, so they run while the in-process tests do; each CLI test then
waits for its own result. Models: the tone-word keyword classifier of tests/kws_fixtures.py
(trained once per test session) and GAN checkpoints of random weights written directly (these
cases need a GAN that restores, not one that draws well).
"""

from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import functools
import json
import logging
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
import soundfile

import gan_fixtures
import kws_fixtures
from v2i_jax import audio
from v2i_jax import errors
from v2i_jax import pipeline as pipeline_lib
from v2i_jax.image import sampling
from v2i_jax.speech import recognizer as recognizer_lib
from v2i_jax.speech import train as kws_train
from v2i_jax.training import checkpoint
from v2i_jax.training import loop
from v2i_jax.training import mesh as mesh_lib

# Under pytest-xdist, --dist loadgroup (or loadfile) keeps this file on one worker, so its CLI
# batch (one module fixture) runs once.
pytestmark = pytest.mark.xdist_group("bad_inputs")
# orbax reports a failed read of a damaged checkpoint once more from its background event loop,
# after the loop closed; the failure itself is what these tests provoke.
damaged_checkpoint = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = audio.SAMPLE_RATE
OTHER_VECTORS = "word2vec:/elsewhere/vectors.bin:0:all"  # A source id no GloVe GAN matches.


# ---------------------------------------------------------------------------------- fixtures


write_untrained_gan = gan_fixtures.write_untrained_gan


def tone_phrase(words, sample_rate=SR, seed=7) -> np.ndarray:
  """Tone words separated by half-second pauses, at ``sample_rate``."""
  rng = np.random.default_rng(seed)
  pause = np.zeros(int(0.5 * sample_rate), np.float32)
  pieces = [pause]
  for w in words:
    pieces += [kws_fixtures.tone_word(w, rng, sample_rate=sample_rate), pause]
  return np.concatenate(pieces)


@dataclasses.dataclass(frozen=True)
class Context:
  kws: str  # tone-word keyword workdir (checkpoints 30 and 40)
  gan: str  # GAN on GloVe 6B 50-d
  gan_other: str  # GAN whose checkpoint says it was trained on other word vectors
  tones: str  # the tone-word Speech Commands folder
  bad_tones: str  # the same plus one "clip" that is a text file
  cache: str  # MFCC cache of the tone folder
  tmp: str  # scratch for this module
  kws_config: object


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Context:
  config, tones, cache, kws_workdir, _ = kws_fixtures.trained_tone_run(
      str(tmp_path_factory.getbasetemp() / "kws_tones"))
  tmp = tmp_path_factory.mktemp("bad_inputs")
  bad_tones = str(tmp / "bad_tones")
  shutil.copytree(tones, bad_tones)
  with open(os.path.join(bad_tones, "high", "spk00000_nohash_1.wav"), "w") as f:
    f.write("this text file is named like a clip")
  files = tmp / "files"
  files.mkdir()
  _write_audio_files(str(files))
  return Context(kws=kws_workdir,
                 gan=write_untrained_gan(str(tmp / "gan")),
                 gan_other=write_untrained_gan(str(tmp / "gan_other"),
                                               embedding_source=OTHER_VECTORS),
                 tones=tones, bad_tones=bad_tones, cache=cache, tmp=str(tmp), kws_config=config)


def _write_audio_files(root: str) -> None:
  t = np.arange(SR) / SR
  tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
  soundfile.write(f"{root}/silent.wav", np.zeros(SR, np.float32), SR, subtype="PCM_16")
  soundfile.write(f"{root}/ten_minutes.wav", np.tile(tone, 600), SR, subtype="PCM_16")
  soundfile.write(f"{root}/no_samples.wav", np.zeros(0, np.float32), SR, subtype="PCM_16")
  with open(f"{root}/text.wav", "w") as f:
    f.write("RIFF? no: this is a text file named .wav")
  open(f"{root}/empty.wav", "w").close()
  with open(f"{root}/ten_minutes.wav", "rb") as f:  # a copy interrupted after 0.1 s
    head = f.read(44 + 2 * SR // 10)
  with open(f"{root}/cut_short.wav", "wb") as f:
    f.write(head)
  with open(f"{root}/corrupt.wav", "wb") as f:  # a RIFF header, then noise where 'fmt ' should be
    f.write(b"RIFF\x24\x00\x00\x00WAVEfmt " + np.random.default_rng(0).bytes(64))
  phrase = tone_phrase(["high", "low"], 48_000)
  soundfile.write(f"{root}/stereo_48k.wav", np.stack([phrase, 0.8 * phrase], 1), 48_000,
                  subtype="PCM_16")
  soundfile.write(f"{root}/phrase_8k.wav", tone_phrase(["mid", "high"], 8_000), 8_000,
                  subtype="PCM_16")


@pytest.fixture(scope="module")
def pipe(ctx):
  return pipeline_lib.Pipeline.restore(ctx.kws, ctx.gan)


# ------------------------------------------------------------------- Python API: bad inputs

FILES = "files"  # the folder _write_audio_files fills, under ctx.tmp

API_CASES = {
    # audio.load_audio: every entry point reads files through it.
    "audio_missing_path": (lambda c, p: audio.load_audio(f"{c.tmp}/nowhere.wav"), "no such file"),
    "audio_folder": (lambda c, p: audio.load_audio(c.tmp), "is a folder"),
    "audio_empty_file": (lambda c, p: audio.load_audio(f"{c.tmp}/{FILES}/empty.wav"),
                         "empty (0 bytes)"),
    "audio_no_samples": (lambda c, p: audio.load_audio(f"{c.tmp}/{FILES}/no_samples.wav"),
                         "empty (0 samples)"),
    "audio_text_named_wav": (lambda c, p: audio.load_audio(f"{c.tmp}/{FILES}/text.wav"),
                             "not a readable audio file"),
    "audio_corrupt_header": (lambda c, p: audio.load_audio(f"{c.tmp}/{FILES}/corrupt.wav"),
                             "not a readable audio file"),
    "audio_cut_short": (lambda c, p: audio.load_audio(f"{c.tmp}/{FILES}/cut_short.wav"),
                        "cut short"),
    "audio_silent": (lambda c, p: audio.load_audio(f"{c.tmp}/{FILES}/silent.wav"), "silent"),
    "audio_ten_minutes": (lambda c, p: audio.load_audio(f"{c.tmp}/{FILES}/ten_minutes.wav"),
                          "600.0 s long, over the 30 s limit"),
    # Pipeline: arrays in.
    "pipe_sample_rate_zero": (lambda c, p: p(tone_phrase(["low"]), 0), "sample rate 0"),
    "pipe_nan_samples": (lambda c, p: p(np.full(SR, np.nan, np.float32), SR), "NaN or Inf"),
    "pipe_silent_array": (lambda c, p: p(np.zeros(SR, np.float32), SR), "silent"),
    "pipe_steady_noise_no_word": (
        lambda c, p: p(np.random.default_rng(0).normal(0, 0.1, 2 * SR).astype(np.float32), SR),
        "no word found"),
    "pipe_ten_minute_array": (lambda c, p: p(np.tile(tone_phrase(["low"]), 300), SR),
                              "over the 30 s limit"),
    # Pipeline: text in.
    "pipe_empty_caption": (lambda c, p: p.from_text("  "), "no word to embed"),
    "pipe_unknown_words": (lambda c, p: p.from_text("xyzzyq qwxzv"), "vocabulary"),
    "pipe_zero_images": (lambda c, p: p.from_text("cat", num_images=0),
                         "num_images=0 is out of range"),
    "pipe_out_not_png": (lambda c, p: pipeline_lib.save_grid(
        f"{c.tmp}/grid.jpeg", np.zeros((1, 64, 64, 3), np.uint8)), "ending in .png"),
    # Restoring: missing, swapped and mismatched workdirs.
    "restore_missing_gan": (lambda c, p: pipeline_lib.Pipeline.restore(None, f"{c.tmp}/no_gan"),
                            "holds no GAN checkpoints"),
    "restore_missing_kws": (lambda c, p: pipeline_lib.Pipeline.restore(f"{c.tmp}/no_kws", c.gan),
                            "no checkpoint directory"),
    "restore_kws_as_gan": (lambda c, p: pipeline_lib.Pipeline.restore(c.kws, c.kws),
                           "not written by launch.train_gan"),
    "restore_gan_as_kws": (lambda c, p: recognizer_lib.Recognizer.restore(c.gan),
                           "not written by launch.train_kws"),
    "restore_gan_other_vectors": (lambda c, p: pipeline_lib.Pipeline.restore(c.kws, c.gan_other),
                                  "does not fit these word vectors"),
    "restore_missing_step": (lambda c, p: sampling.Painter.restore(c.gan, step=999),
                             "no checkpoint for step 999"),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_api_bad_input(case, ctx, pipe):
  call, needle = API_CASES[case]
  with pytest.raises(errors.USER_ERRORS) as raised:
    call(ctx, pipe)
  assert needle in str(raised.value), str(raised.value)


def test_api_accepts_stereo_48k_and_8k_files(ctx, pipe):
  """Recordings at other rates or with two channels are what users have: mixed down, resampled
  to 16 kHz and heard like the 16 kHz mono original."""
  stereo = audio.load_audio(f"{ctx.tmp}/{FILES}/stereo_48k.wav")
  assert stereo.ndim == 1 and stereo.dtype == np.float32
  assert abs(stereo.size - tone_phrase(["high", "low"]).size) <= 3
  assert pipe.recognizer.transcribe(stereo, SR) == ["high", "low"]
  low_rate = audio.load_audio(f"{ctx.tmp}/{FILES}/phrase_8k.wav")
  assert abs(low_rate.size - tone_phrase(["mid", "high"]).size) <= 3
  assert pipe.recognizer.transcribe(low_rate, SR) == ["mid", "high"]
  # The same through the array API, int16 channels-first at 48 kHz, into pictures.
  x48 = (tone_phrase(["low", "mid"], 48_000) * 32767).astype(np.int16)
  result = pipe(np.stack([x48, x48]), 48_000, num_images=2)
  assert result.caption == "low mid" and result.images.shape == (2, 64, 64, 3)


# ------------------------------------------------------------------------- CLI: bad inputs


@dataclasses.dataclass(frozen=True)
class Cli:
  module: str
  args: tuple[str, ...]  # str.format'ed with the Context's fields
  needles: tuple[str, ...] = ()  # must all be in stderr; empty: the run must succeed
  read_only: tuple[str, ...] = ()  # paths (formatted) bind-mounted read-only for the run
  full_disk: str | None = None  # a path (formatted) mounted as a tmpfs of full_disk_kib
  full_disk_kib: int = 4  # ... of this size
  full_disk_filled: bool = True  # ... then filled up: 0 bytes free
  isolated: bool = False  # HOME, TMPDIR, XDG_* and cwd in fresh folders (safe-loading check)


KWS_TINY = ("--config=configs/kws_tiny.py", "--config.data_dir={tones}",
            "--config.cache_dir={cache}")
CLI_CASES = {
    # Data builders: config typos and types, missing config file, read-only output, bad emoji.
    "build_speech_data_config_typo": Cli(
        "launch.build_speech_data", ("--config=configs/speech_data_tiny.py", "--config.wordz=a"),
        ("error: --config.wordz=a names no config field 'wordz'", 'did you mean "words"')),
    "build_speech_data_wrong_type": Cli(
        "launch.build_speech_data",
        ("--config=configs/speech_data_tiny.py", "--config.num_speakers=many"),
        ("--config.num_speakers=many", "invalid literal for int()")),
    "build_speech_data_missing_config": Cli(
        "launch.build_speech_data", ("--config=configs/no_such_config.py",),
        ("error: cannot load the config file", "No such file", "configs/no_such_config.py")),
    "build_speech_data_read_only_out_dir": Cli(
        "launch.build_speech_data",
        ("--config=configs/speech_data_tiny.py", "--out_dir={tmp}/ro/speech"),
        ("error:", "Read-only file system", "{tmp}/ro"), read_only=("{tmp}/ro",)),
    "build_image_data_config_typo": Cli(
        "launch.build_image_data", ("--config=configs/image_data_tiny.py", "--config.emojis=1"),
        ("error: --config.emojis=1 names no config field 'emojis'",)),
    "build_image_data_unknown_emoji": Cli(
        "launch.build_image_data", ("--config=configs/image_data_tiny.py",
                                    "--config.emoji=('zz',)", "--config.data_dir={tmp}/emoji"),
        ("error: config.emoji has ['zz']", "fully-qualified")),
    # Keyword training.
    "train_kws_config_typo": Cli(
        "launch.train_kws", ("--config=configs/kws_tiny.py", "--workdir={tmp}/w_typo",
                             "--config.optimiser.lr=0.1"),
        ("error: --config.optimiser.lr=0.1 names no config field 'optimiser'",
         'did you mean "optimizer"')),
    "train_kws_missing_data_dir": Cli(
        "launch.train_kws", ("--config=configs/kws_tiny.py", "--workdir={tmp}/w_nodata",
                             "--config.data_dir={tmp}/no_such_data"),
        ("error: {tmp}/no_such_data: no such folder",)),
    "train_kws_text_file_among_clips": Cli(
        "launch.train_kws", ("--config=configs/kws_tiny.py", "--workdir={tmp}/w_badclip",
                             "--config.data_dir={bad_tones}", "--config.cache_dir={tmp}/cache2"),
        ("error: {bad_tones}/high/spk00000_nohash_1.wav: not a readable audio file",)),
    "train_kws_in_a_gan_workdir": Cli(
        "launch.train_kws", (*KWS_TINY, "--workdir={gan}"),
        ("error: checkpoint step 1 in {gan}/checkpoints holds another model",
         "pass the workdir this model was trained in")),
    "train_kws_read_only_workdir": Cli(
        "launch.train_kws", (*KWS_TINY, "--workdir={tmp}/ro/run"),
        ("error:", "Read-only file system", "{tmp}/ro/run"), read_only=("{tmp}/ro",)),
    "train_kws_disk_too_small_for_checkpoint": Cli(
        "launch.train_kws", (*KWS_TINY, "--workdir={tmp}/small/run",
                             "--config.checkpoint_every_steps=2", "--config.log_every_steps=2"),
        ("error: no space for checkpoint step 2 in {tmp}/small/run/checkpoints",),
        full_disk="{tmp}/small", full_disk_kib=256, full_disk_filled=False),
    # GAN training.
    "train_gan_config_typo": Cli(
        "launch.train_gan", ("--config=configs/gan_tiny.py", "--workdir={tmp}/g_typo",
                             "--config.learning_rte=0.1"),
        ("error: --config.learning_rte=0.1 names no config field 'learning_rte'",
         'did you mean "learning_rate"')),
    "train_gan_wrong_type": Cli(
        "launch.train_gan", ("--config=configs/gan_tiny.py", "--workdir={tmp}/g_type",
                             "--config.learning_rate=fast"),
        ("--config.learning_rate=fast", "could not convert string to float")),
    "train_gan_unknown_choice": Cli(
        "launch.train_gan", ("--config=configs/gan_tiny.py", "--workdir={tmp}/g_enum",
                             "--config.conditioning=magic"),
        ("error: config.conditioning='magic'; use one of",)),
    "train_gan_missing_dataset_folder": Cli(
        "launch.train_gan", ("--config=configs/gan_tiny.py", "--workdir={tmp}/g_nodata",
                             "--config.dataset={tmp}/no_such_images",
                             "--config.embedding_cache_dir={tmp}/embeddings"),
        ("error: {tmp}/no_such_images: no such folder",)),
    # Evaluation.
    "eval_kws_gan_workdir": Cli(
        "launch.eval_kws", ("--workdir={gan}", "--data_dir={tones}"),
        ("error: the checkpoint in {gan} lacks 'words'", "not written by launch.train_kws")),
    "eval_kws_text_file_among_clips": Cli(
        "launch.eval_kws", ("--workdir={kws}", "--data_dir={bad_tones}", "--split=all"),
        ("error: {bad_tones}/high/spk00000_nohash_1.wav: not a readable audio file",)),
    "eval_gan_kws_workdir": Cli(
        "launch.eval_gan", ("--workdir={kws}",),
        ("error: the checkpoint in {kws} was not written by launch.train_gan",)),
    # Voice -> image.
    "generate_empty_caption": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--text=", "--out={tmp}/o.png"),
        ("error: the caption '' has no word to embed",)),
    "generate_out_not_png": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--text=cat", "--out={tmp}/o"),
        ("error: {tmp}/o: pictures are written as PNG",)),
    "generate_mismatched_checkpoints": Cli(
        "launch.generate", ("--gan_workdir={gan_other}", "--kws_workdir={kws}",
                            "--audio={tmp}/files/stereo_48k.wav", "--out={tmp}/o.png"),
        ("error: the GAN in {gan_other} does not fit these word vectors", OTHER_VECTORS)),
    "generate_out_on_full_disk": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--text=cat", "--out={tmp}/full/o.png"),
        ("error: [Errno 28] No space left on device: '{tmp}/full/o.png'",),
        full_disk="{tmp}/full"),
    # One seed rule (v2i_jax.options): the same message as the API and the demo.
    "generate_seed_past_2_64": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--text=cat", "--seed=99999999999999999999"),
        ("seed=99999999999999999999 is out of range; use a whole number from 0 to 2147483647",)),
    "generate_seed_2_32_does_not_wrap": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--text=cat", "--seed=4294967296"),
        ("seed=4294967296 is out of range",)),
    "generate_seed_not_whole": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--text=cat", "--seed=1.5"),
        ("seed='1.5' is not a whole number; use a whole number from 0 to 2147483647",)),
    "generate_num_images_not_whole": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--text=cat", "--num_images=1.5"),
        ("num_images='1.5' is not a whole number; use a whole number from 1 to 256",)),
    "generate_audio_too_long_names_the_flag": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--kws_workdir={kws}", "--out={tmp}/o.png",
                            "--audio={tmp}/files/ten_minutes.wav"),
        ("error: {tmp}/files/ten_minutes.wav: the audio is 600.0 s long, over the 30 s limit",
         "--max_seconds")),
    # Accepted by design.
    "generate_from_read_only_models": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--kws_workdir={kws}",
                            "--audio={tmp}/files/phrase_8k.wav", "--out={tmp}/ro_models.png",
                            "--num_images=2"),
        read_only=("{gan}", "{kws}")),
    "generate_stereo_48k_with_summary": Cli(
        "launch.generate", ("--gan_workdir={gan}", "--kws_workdir={kws}",
                            "--audio={tmp}/files/stereo_48k.wav", "--out={tmp}/iso/out/o.png",
                            "--summary={tmp}/iso/out/summary.png", "--num_images=2"),
        isolated=True),
}

# Started first (they train or paint), so that none of them is left running alone at the end.
SLOW_CLI_CASES = ("generate_from_read_only_models", "train_kws_disk_too_small_for_checkpoint",
                  "generate_stereo_48k_with_summary", "generate_out_on_full_disk")

# Shell prologues run inside the new user + mount namespace before exec'ing the command.
_READ_ONLY = ('for d in $V2I_READ_ONLY; do mkdir -p "$d" && mount --bind "$d" "$d" && '
              'mount -o remount,bind,ro "$d" || exit 97; done; ')
_FULL_DISK = ('mkdir -p "$V2I_FULL" && mount -t tmpfs -o "size=${V2I_FULL_KIB}k" tmpfs '
              '"$V2I_FULL" || exit 97; if [ -n "$V2I_FULL_FILL" ]; then '
              'dd if=/dev/zero of="$V2I_FULL/filler" bs=1k 2>/dev/null; fi; ')


@functools.lru_cache(maxsize=None)
def namespaces_work() -> bool:
  try:
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
         "mount -t tmpfs -o size=4k tmpfs /mnt"],
        capture_output=True, timeout=30).returncode == 0
  except (OSError, subprocess.SubprocessError):
    return False


def _command(case: Cli, c: Context) -> tuple[list[str], dict[str, str], str]:
  fmt = lambda s: s.format(**dataclasses.asdict(c))
  command = [sys.executable, "-m", case.module, *map(fmt, case.args)]
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
  cwd = REPO
  if case.isolated:
    iso = fmt("{tmp}/iso")
    for name in ("home", "tmp", "cwd", "out"):
      os.makedirs(f"{iso}/{name}", exist_ok=True)
    env.update(HOME=f"{iso}/home", TMPDIR=f"{iso}/tmp", XDG_CACHE_HOME=f"{iso}/home/.cache",
               XDG_CONFIG_HOME=f"{iso}/home/.config")
    for name in ("MPLCONFIGDIR", "JAX_COMPILATION_CACHE_DIR", "TFDS_DATA_DIR"):
      env.pop(name, None)
    cwd = f"{iso}/cwd"
  prologue = ""
  if case.read_only:
    env["V2I_READ_ONLY"] = " ".join(map(fmt, case.read_only))
    prologue += _READ_ONLY
  if case.full_disk:
    env["V2I_FULL"] = fmt(case.full_disk)
    env["V2I_FULL_KIB"] = str(case.full_disk_kib)
    env["V2I_FULL_FILL"] = "1" if case.full_disk_filled else ""
    prologue += _FULL_DISK
  if prologue:
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
               prologue + 'exec "$@"', "sh", *command]
  return command, env, cwd


@pytest.fixture(scope="module", autouse=True)
def cli_runs(ctx):
  """Starts every CLI case as soon as the models exist (3 at a time: they are mostly start-up),
  so they run while the in-process tests do; yields ``{name: Future[CompletedProcess]}``. Cases
  needing namespaces are left out where those are unavailable."""
  def run(name):
    command, env, cwd = _command(CLI_CASES[name], ctx)
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)

  names = [n for n, case in CLI_CASES.items()
           if namespaces_work() or not (case.read_only or case.full_disk)]
  names.sort(key=lambda n: SLOW_CLI_CASES.index(n) if n in SLOW_CLI_CASES else len(CLI_CASES))
  _snapshot_models(ctx, "before")
  pool = concurrent.futures.ThreadPoolExecutor(3)
  yield {name: pool.submit(run, name) for name in names}
  pool.shutdown(wait=True, cancel_futures=True)


def _cli_result(cli_runs, case: str) -> subprocess.CompletedProcess:
  if case not in cli_runs:
    pytest.skip("needs user namespaces (unshare --user --mount) for read-only or full mounts")
  return cli_runs[case].result()


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_input(case, ctx, cli_runs):
  spec = CLI_CASES[case]
  done = _cli_result(cli_runs, case)
  stderr = done.stderr
  assert "Traceback" not in stderr, stderr[-4000:]
  if not spec.needles:
    assert done.returncode == 0, stderr[-4000:]
    return
  assert done.returncode == 1, (done.returncode, stderr[-4000:])
  for needle in spec.needles:
    assert needle.format(**dataclasses.asdict(ctx)) in stderr, stderr[-4000:]


@pytest.mark.parametrize("case,caption", [("generate_stereo_48k_with_summary", "high low"),
                                          ("generate_from_read_only_models", "mid high")])
def test_cli_accepted_inputs_give_the_words(cli_runs, case, caption):
  line = json.loads(_cli_result(cli_runs, case).stdout.strip().splitlines()[-1])
  assert line["caption"] == caption, line


# ------------------------------------------------- half-written checkpoints (issue part 2)


def _damage(step_dir: str, how: str) -> None:
  if how == "truncated":  # every array data file (OCDBT's d/ folders) cut to half its size
    for root, _, names in os.walk(os.path.join(step_dir, "state")):
      for name in names if os.path.basename(root) == "d" else ():
        os.truncate(os.path.join(root, name), os.path.getsize(os.path.join(root, name)) // 2)
  elif how == "state_deleted":
    shutil.rmtree(os.path.join(step_dir, "state"))
  elif how == "meta_truncated":
    path = os.path.join(step_dir, "meta", "metadata")
    os.truncate(path, os.path.getsize(path) // 2)


@damaged_checkpoint
@pytest.mark.parametrize("how", ["truncated", "state_deleted", "meta_truncated"])
def test_restore_skips_a_damaged_newest_checkpoint_with_a_warning(ctx, tmp_path, caplog, how):
  workdir = str(tmp_path / "kws")
  shutil.copytree(ctx.kws, workdir)
  _damage(os.path.join(workdir, "checkpoints", "40"), how)
  with caplog.at_level(logging.WARNING):
    recognizer = recognizer_lib.Recognizer.restore(workdir)
  assert recognizer.step == 30
  assert any("step 40" in r.getMessage() and "unreadable" in r.getMessage()
             for r in caplog.records), [r.getMessage() for r in caplog.records]


@damaged_checkpoint
def test_all_checkpoints_damaged_is_one_clear_error(ctx, tmp_path):
  workdir = str(tmp_path / "kws")
  shutil.copytree(ctx.kws, workdir)
  for step in ("30", "40"):
    _damage(os.path.join(workdir, "checkpoints", step), "truncated")
  with pytest.raises(checkpoint.CheckpointError, match=r"no readable checkpoint .* steps \[40, 30\]"):
    recognizer_lib.Recognizer.restore(workdir)


def _params(config, workdir, step):
  target = kws_train.abstract_train_state(config, len(kws_fixtures.WORDS), (51, 13),
                                          mesh_lib.replicated_sharding(mesh_lib.make_mesh()))
  with checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), create=False) as ckpt:
    restored_step, state, _ = ckpt.restore(kws_train.state_to_save(target), step)
  assert restored_step == step
  return state["params"]


@damaged_checkpoint
def test_resume_after_a_half_written_checkpoint_loses_nothing(ctx, tmp_path, caplog):
  """Step 40 truncated as by a disk that filled up mid-write: the rerun warns, resumes from 30,
  saves a readable step 40 (orbax alone would skip saving a step it already lists) and ends with
  the uninterrupted run's parameters."""
  workdir = str(tmp_path / "kws")
  shutil.copytree(ctx.kws, workdir)
  _damage(os.path.join(workdir, "checkpoints", "40"), "truncated")
  with caplog.at_level(logging.WARNING):
    results = kws_train.train_and_evaluate(ctx.kws_config, workdir)
  assert results["resumed_from_step"] == 30 and results["steps"] == 40
  skipped = [r.getMessage() for r in caplog.records if "skipping checkpoint" in r.getMessage()]
  assert len(skipped) == 1 and "step 40" in skipped[0], skipped  # one warning for the one step
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
      _params(ctx.kws_config, workdir, 40), _params(ctx.kws_config, ctx.kws, 40))


# ----------------------------------------------------------------------- NaN (issue part 4)


def test_nan_right_after_a_resume_names_the_earlier_step_to_roll_back_to(ctx, tmp_path):
  """A NaN before the resumed run saved anything may come from the resumed step itself: a plain
  rerun would resume from it again, so the message names the newest earlier verified step and the
  --restore_step that uses it (tests/test_reliability.py runs that rollback)."""
  workdir = str(tmp_path / "kws")
  shutil.copytree(ctx.kws, workdir)
  config = kws_fixtures.tiny_config(ctx.tones, ctx.cache, weight_decay=float("nan"))
  config.schedule.num_cycles = 3  # 60 steps: resumes at 40, first NaN logged at 45
  with pytest.raises(loop.NonFiniteLossError) as raised:
    kws_train.train_and_evaluate(config, workdir)
  message = str(raised.value)
  assert "at step 45" in message, message
  assert f"after the resumed step 40 in {workdir}/checkpoints" in message, message
  assert "rerun with --restore_step=30" in message, message
  with checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), create=False) as ckpt:
    assert ckpt.all_steps() == [30, 40]  # nothing non-finite was saved


@pytest.mark.parametrize("resumed_at", [None, 5])
def test_nan_after_a_newer_checkpoint_names_that_checkpoint(tmp_path, resumed_at):
  """Once the run saved a step of its own (10), that step is the good one: a rerun resumes."""
  asked = []
  with pytest.raises(loop.NonFiniteLossError) as raised:
    loop.check_finite({"loss": float("nan")}, 15, 10, str(tmp_path), resumed_at=resumed_at,
                      earlier_step=lambda: asked.append(1))
  message = str(raised.value)
  assert "at step 15; the last good checkpoint is step 10" in message, message
  assert "a rerun resumes from it" in message and not asked


# ----------------------------------------------------------------- safe loading (part 5)

UNPICKLERS = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
PICKLE_LOADERS = {"KeyedVectors", "Word2Vec", "FastText", "torch", "joblib", "pickle", "dill"}


def _unsafe_loads(path: str) -> list[str]:
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in UNPICKLERS]
    elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLERS:
      found.append(f"from {node.module} import ...")
    elif isinstance(node, ast.Call):
      for kw in node.keywords:
        if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant)
                                             and kw.value.value is False):
          found.append(f"allow_pickle={ast.unparse(kw.value)}")
      func = node.func
      if (isinstance(func, ast.Attribute) and func.attr == "load"
          and isinstance(func.value, ast.Name) and func.value.id in PICKLE_LOADERS):
        found.append(f"{func.value.id}.load(...)")
  return [f"{os.path.relpath(path, REPO)}:{node}" for node in found]


def test_nothing_unpickles():
  """np.load defaults to allow_pickle=False; gensim's .load, torch.load, joblib and pickle
  unpickle, i.e. run code from the file."""
  found = []
  for top in ("v2i_jax", "launch", "benchmarks", "configs"):
    for root, _, names in os.walk(os.path.join(REPO, top)):
      found += [x for n in names if n.endswith(".py")
                for x in _unsafe_loads(os.path.join(root, n))]
  assert not found, found


def _snapshot_models(c: Context, key: str) -> None:
  _SNAPSHOTS[key] = {
      d: sorted((os.path.relpath(os.path.join(r, n), d), os.path.getmtime(os.path.join(r, n)))
                for r, _, names in os.walk(d) for n in names)
      for d in (c.kws, c.gan)}


_SNAPSHOTS: dict[str, dict] = {}


def test_generate_writes_only_its_outputs_and_the_data_cache(ctx, cli_runs):
  """launch.generate (speech in, summary figure: word vectors, both checkpoints, matplotlib) with
  HOME, TMPDIR, XDG dirs and cwd in fresh folders: it writes its two PNGs, matplotlib's font
  cache in ./data_cache, and nothing else, not even in the model workdirs."""
  done = _cli_result(cli_runs, "generate_stereo_48k_with_summary")
  assert done.returncode == 0, done.stderr[-3000:]
  assert os.path.getsize(os.path.join(ctx.tmp, "iso", "out", "summary.png")) > 0
  iso = os.path.join(ctx.tmp, "iso")
  written = sorted(os.path.relpath(os.path.join(r, n), iso)
                   for r, _, names in os.walk(iso) for n in names)
  allowed = ("out/o.png", "out/summary.png")
  assert [w for w in written if w not in allowed and not w.startswith("cwd/data_cache/")] == [], \
      written
  _snapshot_models(ctx, "after")
  assert _SNAPSHOTS["after"] == _SNAPSHOTS["before"]

