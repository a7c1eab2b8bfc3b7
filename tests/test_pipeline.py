"""Voice -> words -> embedding -> pictures with tiny real models (tone words, tiny GAN)."""

import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import kws_fixtures
from configs import gan_tiny
from v2i_jax import audio
from v2i_jax import pipeline as pipeline_lib
from v2i_jax.image import train as gan_train
from v2i_jax.speech import recognizer as recognizer_lib
from v2i_jax.text import captions as captions_lib
from v2i_jax.text import vectors as vectors_lib
from v2i_jax.training import checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GLOVE_DIM = 100  # [min, max] of GloVe 50-d


def _train_gan(workdir, **overrides):
  config = gan_tiny.get_config()
  config.embedding_dim = GLOVE_DIM
  config.num_train_steps = 2
  config.update(overrides)
  gan_train.train_and_evaluate(config, workdir, batches=gan_train.synthetic_batches(config))
  return workdir


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  kws = kws_fixtures.trained_tone_run(str(tmp_path_factory.getbasetemp() / "kws_tones"))
  gan = _train_gan(str(tmp_path_factory.mktemp("gan")))
  return kws[3], gan


@pytest.fixture(scope="module")
def pipe(workdirs):
  return pipeline_lib.Pipeline.restore(*workdirs)


def _phrase(words, seed=7):
  rng = np.random.default_rng(seed)
  pause = np.zeros(int(0.5 * audio.SAMPLE_RATE), np.float32)
  pieces = [pause]
  for w in words:
    pieces += [kws_fixtures.tone_word(w, rng), pause]
  return np.concatenate(pieces)


def test_text_to_images(pipe):
  result = pipe.from_text("A high-flying bird!", num_images=3, seed=1)
  assert result.images.shape == (3, 64, 64, 3) and result.images.dtype == np.uint8
  assert result.caption == "a high flying bird"
  again = pipe.from_text("a high flying bird", num_images=3, seed=1)
  np.testing.assert_array_equal(result.images, again.images)
  assert not np.array_equal(result.images, pipe.from_text("low", num_images=3, seed=1).images)


def test_speech_to_images_every_word_in_order(pipe):
  result = pipe(_phrase(["high", "low"]), audio.SAMPLE_RATE, num_images=2)
  assert [s.word for s in result.words] == ["high", "low"]
  assert result.caption == "high low"
  assert result.images.shape == (2, 64, 64, 3)


def test_threshold_drops_and_reports(pipe):
  with pytest.raises(recognizer_lib.RecognitionError, match="probability >= 1.01"):
    pipe(_phrase(["mid"]), audio.SAMPLE_RATE, min_probability=1.01)


@pytest.mark.parametrize("caption,needle", [("", "no word"), ("xyzzyq qwxzv", "vocabulary")])
def test_bad_captions(pipe, caption, needle):
  with pytest.raises(captions_lib.CaptionError, match=needle):
    pipe.from_text(caption)


def _copy_with_meta(gan_workdir, dest, **changes):
  """A copy of a GAN workdir whose checkpoint metadata says something else (no retraining)."""
  shutil.copytree(gan_workdir, dest)
  for path in glob.glob(os.path.join(dest, "checkpoints", "*", "meta", "metadata")):
    with open(path) as f:
      meta = json.load(f)
    meta.update(changes)
    with open(path, "w") as f:
      json.dump(meta, f)
  return str(dest)


def test_mismatched_models_are_refused(workdirs, tmp_path):
  kws, gan = workdirs
  other_source = _copy_with_meta(gan, tmp_path / "src", embedding_source="word2vec:x.bin:10:all")
  with pytest.raises(pipeline_lib.PipelineError, match="word2vec:x.bin"):
    pipeline_lib.Pipeline.restore(kws, other_source)
  # Vectors that match the recorded source but are 4-d: [min, max] is 8-d, the GAN wants 100.
  small = tmp_path / "small.txt"
  small.write_text("3 4\nhigh 1 0 0 0\nlow 0 1 0 0\nmid 0 0 1 0\n")
  spec = vectors_lib.VectorSource.word2vec(small)
  wrong_dim = _copy_with_meta(gan, tmp_path / "dim", embedding_source=vectors_lib.source_id(spec))
  with pytest.raises(pipeline_lib.PipelineError, match="expects 100-d"):
    pipeline_lib.Pipeline.restore(kws, wrong_dim, spec)


def test_missing_and_wrong_workdirs(workdirs, tmp_path):
  kws, gan = workdirs
  with pytest.raises(checkpoint.CheckpointError, match="no GAN checkpoints"):
    pipeline_lib.Pipeline.restore(kws, str(tmp_path))
  with pytest.raises(checkpoint.CheckpointError, match="not written by launch.train_gan"):
    pipeline_lib.Pipeline.restore(kws, kws)


def _generate(*args):
  return subprocess.run([sys.executable, "-m", "launch.generate", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def test_generate_cli_audio_and_text(workdirs, tmp_path):
  kws, gan = workdirs
  wav = tmp_path / "phrase.wav"
  audio.write_wav(wav, _phrase(["low", "high"]))
  out, summary = tmp_path / "out.png", tmp_path / "summary.png"
  done = _generate(f"--kws_workdir={kws}", f"--gan_workdir={gan}", f"--audio={wav}",
                   f"--out={out}", f"--summary={summary}", "--num_images=2",
                   "--min_probability=0")
  assert done.returncode == 0, done.stderr[-2000:]
  line = json.loads(done.stdout.strip().splitlines()[-1])
  assert line["caption"] == "low high" and out.exists() and summary.exists()

  bad = tmp_path / "bad.wav"
  bad.write_text("not audio")
  done = _generate(f"--kws_workdir={kws}", f"--gan_workdir={gan}", f"--audio={bad}")
  assert done.returncode != 0 and "not a readable audio file" in done.stderr
  assert "Traceback" not in done.stderr


def test_paint_many_one_picture_per_embedding(pipe):
  embeddings = np.random.default_rng(0).normal(size=(3, GLOVE_DIM)).astype(np.float32)
  images = pipe.painter.paint_many(embeddings, seed=0)
  assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8
  np.testing.assert_array_equal(images, pipe.painter.paint_many(embeddings, seed=0))
