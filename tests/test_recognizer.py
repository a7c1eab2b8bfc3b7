"""Recognizer on the tiny tone-word model: restore without data, predict at any rate, transcribe
several words, clear errors, and scoring any folder (library and launch script)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import kws_fixtures
from v2i_jax import audio
from v2i_jax.speech import recognizer as recognizer_lib
from v2i_jax.training import checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  return kws_fixtures.trained_tone_run(str(tmp_path_factory.getbasetemp() / "kws_tones"))


@pytest.fixture(scope="module")
def recognizer(trained):
  return recognizer_lib.Recognizer.restore(trained[3])


def _word(word, seed):
  return kws_fixtures.tone_word(word, np.random.default_rng(seed))


def test_restore_predict_at_any_rate(recognizer):
  assert recognizer.words == kws_fixtures.WORDS and recognizer.step == 40
  top = recognizer.predict(_word("high", 1), 16000, top_k=3)
  assert [w for w, _ in top][0] == "high"
  probabilities = [p for _, p in top]
  assert probabilities == sorted(probabilities, reverse=True)
  assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
  # A 44.1 kHz stereo int16 recording of another word is resampled and mixed down first.
  low = _word("low", 2)
  t = np.arange(int(len(low) * 44100 / 16000))
  low_44k = np.interp(t * 16000 / 44100, np.arange(len(low)), low)
  stereo = (np.stack([low_44k, low_44k], axis=1) * 32767).astype(np.int16)
  assert recognizer.predict(stereo, 44100, top_k=1)[0][0] == "low"


def test_transcribe_words_separated_by_silence(recognizer):
  rng = np.random.default_rng(3)
  pause = np.zeros(int(0.4 * audio.SAMPLE_RATE), np.float32)
  spoken = ["low", "high", "mid", "high"]
  parts = [pause]
  for i, word in enumerate(spoken):
    parts += [_word(word, 10 + i), pause]
  x = np.concatenate(parts) + rng.normal(0, 0.002, sum(map(len, parts))).astype(np.float32)
  segments = recognizer.transcribe_segments(x)
  assert [s.word for s in segments] == spoken
  assert recognizer.transcribe(x) == spoken
  starts = [s.start_seconds for s in segments]
  np.testing.assert_allclose(starts, [0.4 + 0.8 * i - 0.1 for i in range(4)], atol=0.06)


def test_nothing_recognisable_is_a_clear_error(recognizer):
  noise = np.random.default_rng(4).normal(0, 0.05, audio.SAMPLE_RATE).astype(np.float32)
  with pytest.raises(recognizer_lib.RecognitionError, match="no word found"):
    recognizer.transcribe(noise)
  with pytest.raises(recognizer_lib.RecognitionError, match="best guesses: high"):
    recognizer.transcribe(_word("high", 5), min_probability=1.01)
  with pytest.raises(audio.AudioError, match="silent"):
    recognizer.predict(np.zeros(8000, np.float32), 16000)
  with pytest.raises(checkpoint.CheckpointError, match="train first"):
    recognizer_lib.Recognizer.restore(os.path.join(REPO, "no_such_workdir"))


def test_evaluate_folder_matches_training_and_names_unknown_words(trained, tmp_path):
  _, data_dir, _, workdir, results = trained
  report = recognizer_lib.evaluate_folder(workdir, data_dir, "test", batch_size=8)
  assert report["count"] == results["test"]["count"]
  assert report["accuracy"] == pytest.approx(results["test"]["accuracy"])
  assert set(report["per_word"]) == set(kws_fixtures.WORDS)
  # Another folder: one known word plus a word the model never learnt.
  other = tmp_path / "other"
  shutil.copytree(os.path.join(data_dir, "mid"), other / "mid")
  os.makedirs(other / "zebra")
  audio.write_wav(other / "zebra" / "a_nohash_0.wav", _word("low", 6))
  report = recognizer_lib.evaluate_folder(workdir, str(other), "all", batch_size=8)
  assert report["skipped_words"] == ["zebra"] and list(report["per_word"]) == ["mid"]
  assert report["count"] == 16
  with pytest.raises(recognizer_lib.RecognitionError, match="no 'all' clips"):
    recognizer_lib.evaluate_folder(workdir, str(other / "zebra"), "all")


def test_eval_launch_prints_one_json_line(trained):
  _, data_dir, _, workdir, results = trained
  done = subprocess.run(
      [sys.executable, "-m", "launch.eval_kws", f"--workdir={workdir}", f"--data_dir={data_dir}"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  report = json.loads(done.stdout.strip().splitlines()[-1])
  assert report["accuracy"] == pytest.approx(results["test"]["accuracy"])
  assert {w: v["count"] for w, v in report["per_word"].items()} == {
      w: 2 for w in kws_fixtures.WORDS}
  missing = subprocess.run(
      [sys.executable, "-m", "launch.eval_kws", f"--workdir={workdir}",
       f"--data_dir={data_dir}/nope"], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert missing.returncode != 0 and "Traceback" not in missing.stderr
  assert "error:" in missing.stderr and "no such folder" in missing.stderr


@pytest.fixture(scope="module")
def trained_with_non_keywords(tmp_path_factory):
  from v2i_jax.speech import train
  root = tmp_path_factory.mktemp("kws_non_keywords")
  data_dir = kws_fixtures.make_tone_dataset(str(root / "tones"), non_keywords=True)
  config = kws_fixtures.tiny_config(data_dir, str(root / "cache"),
                                    non_keywords=("_unknown_", "_silence_"))
  workdir = str(root / "run")
  train.train_and_evaluate(config, workdir)
  return data_dir, workdir


def test_non_keyword_classes_exist_and_transcription_drops_them(trained_with_non_keywords):
  data_dir, workdir = trained_with_non_keywords
  recognizer = recognizer_lib.Recognizer.restore(workdir)
  assert recognizer.words == kws_fixtures.WORDS + ("_unknown_", "_silence_")
  assert recognizer.keywords == kws_fixtures.WORDS
  pause = np.zeros(int(0.4 * audio.SAMPLE_RATE), np.float32)
  # The training clips' noise floor, as a real recording has one.
  floor = lambda x: x + np.random.default_rng(24).normal(0, 0.003, x.shape).astype(np.float32)
  # "high", another word, "low": the other word is heard as _unknown_ and dropped.
  x = floor(np.concatenate([pause, _word("high", 20), pause, _word("other", 21), pause,
                            _word("low", 22), pause]))
  segments = recognizer.transcribe_segments(x)
  assert [s.word for s in segments] == ["high", "low"]
  with pytest.raises(recognizer_lib.RecognitionError, match="no keyword in them"):
    recognizer.transcribe(floor(np.concatenate([pause, _word("other", 23), pause])))
  report = recognizer_lib.evaluate_folder(workdir, data_dir, "all", batch_size=8)
  assert set(report["per_word"]) == set(kws_fixtures.WORDS)
  assert report["count"] == 3 * 16
  assert set(report["non_keywords"]) == {"_unknown_", "_silence_"}
  assert report["non_keywords"]["_unknown_"]["count"] == 16
  assert report["non_keywords"]["_unknown_"]["false_accept_rate"] <= 0.25
  assert 0.0 <= report["keyword_rejection_rate"] <= 0.25


def test_model_without_non_keyword_classes_counts_their_clips_as_false_accepts(
    trained, trained_with_non_keywords):
  data_dir, _ = trained_with_non_keywords
  report = recognizer_lib.evaluate_folder(trained[3], data_dir, "all", batch_size=8)
  # It must name a keyword for every clip: every non-keyword clip is a false accept.
  assert report["non_keywords"]["_unknown_"]["false_accept_rate"] == 1.0
  assert report["keyword_rejection_rate"] == 0.0


def test_decide_scales_only_the_non_keyword_classes():
  words = ("dog", "cat", "_unknown_", "_silence_")
  probs = np.asarray([[0.3, 0.1, 0.6, 0.0],    # _unknown_ at 1; dog once 0.6 * w < 0.3
                      [0.05, 0.05, 0.1, 0.8],  # _silence_ even at 0.1 (0.08 > 0.05)
                      [0.2, 0.7, 0.1, 0.0]])   # cat at any weight
  assert recognizer_lib.decide(probs, words).tolist() == [2, 3, 1]
  assert recognizer_lib.decide(probs, words, 0.4).tolist() == [0, 3, 1]
  assert recognizer_lib.decide(probs, words, 0.05).tolist() == [0, 0, 1]
  # A model without non-keyword classes: the weight changes nothing.
  assert recognizer_lib.decide(probs[:, :2], words[:2], 0.05).tolist() == [0, 0, 1]


@pytest.mark.parametrize("weight", [0, -0.5, 1.5, float("nan"), "high", True, None])
def test_bad_non_keyword_weight_is_one_clear_error(weight):
  with pytest.raises(recognizer_lib.RecognitionError, match=r"non_keyword_weight=.*\(0, 1\]"):
    recognizer_lib.check_non_keyword_weight(weight)


def test_lower_non_keyword_weight_misses_fewer_keywords(trained_with_non_keywords):
  data_dir, workdir = trained_with_non_keywords
  report = recognizer_lib.evaluate_folder(workdir, data_dir, "all", batch_size=8)
  assert report["non_keyword_weight"] == 1.0
  points = report["operating_points"]
  assert list(points) == [str(w) for w in recognizer_lib.OPERATING_WEIGHTS]
  assert points["1.0"]["accuracy"] == report["accuracy"]
  assert points["1.0"]["_unknown_"] == report["non_keywords"]["_unknown_"]
  rejections = [p["keyword_rejection_rate"] for p in points.values()]
  accepts = [p["_unknown_"]["false_accept_rate"] for p in points.values()]
  # Smaller weights: never more keywords rejected, never fewer other words accepted.
  assert rejections == sorted(rejections, reverse=True)
  assert accepts == sorted(accepts)
  low = recognizer_lib.evaluate_folder(workdir, data_dir, "all", batch_size=8,
                                       non_keyword_weight=0.05)
  assert low["non_keyword_weight"] == 0.05
  assert low["accuracy"] == points["0.05"]["accuracy"]
  restored = recognizer_lib.Recognizer.restore(workdir)
  assert restored.with_non_keyword_weight(0.2).non_keyword_weight == 0.2
  assert restored.non_keyword_weight == 1.0
  with pytest.raises(recognizer_lib.RecognitionError, match="non_keyword_weight"):
    recognizer_lib.evaluate_folder(workdir, data_dir, "all", non_keyword_weight=2.0)


def test_ensemble_model_trains_restores_and_recognises(trained, tmp_path):
  from v2i_jax.speech import train
  config, data_dir, cache_dir = trained[0], trained[1], trained[2]
  config = config.copy_and_resolve_references()
  config.model.ensemble = 2
  train.train_and_evaluate(config, str(tmp_path / "ensemble"))
  recognizer = recognizer_lib.Recognizer.restore(str(tmp_path / "ensemble"))
  clips = [_word(w, 30 + i) for i, w in enumerate(kws_fixtures.WORDS)]
  probs = recognizer.probabilities(np.stack([audio.fit_length(c, 16000) for c in clips]))
  np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
  assert [recognizer.predict(c, top_k=1)[0][0] for c in clips] == list(kws_fixtures.WORDS)
