"""Readers for real Speech Commands data: a layout folder (tried on a generated one) and tfds."""

import json
import os
import shutil

import numpy as np
import pytest

from configs import speech_data_tiny
from v2i_jax.speech import dataset, synth


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("layout") / "speech")
  synth.build_dataset(out, speech_data_tiny.get_config(), progress=False)
  return out


def test_list_clips_on_a_generated_folder(folder):
  info = json.load(open(os.path.join(folder, synth.INFO_FILE)))
  words = dataset.words_in(folder)
  assert words == sorted(info["words"])
  splits = {s: dataset.list_clips(folder, s) for s in ("train", "validation", "test")}
  assert {s: len(v) for s, v in splits.items()} == info["clips_per_split"]
  everything = dataset.list_clips(folder, "all")
  assert sorted(everything) == sorted(sum(splits.values(), []))
  for path, label in everything:
    assert os.path.isabs(path) and os.path.basename(os.path.dirname(path)) == words[label]

  # A caller-chosen word order sets the labels and drops the other words.
  only = dataset.list_clips(folder, "all", words=["yes", "cat"])
  assert {label for _, label in only} == {0, 1}
  assert all(("/yes/" in p) == (label == 0) for p, label in only)


def test_splits_without_list_files_come_from_the_same_speaker_hash(folder, tmp_path):
  copy = str(tmp_path / "copy")
  shutil.copytree(folder, copy)
  os.remove(os.path.join(copy, "validation_list.txt"))
  os.remove(os.path.join(copy, "testing_list.txt"))
  # The tiny config uses 30%/30%; the reader falls back to the README's 10%/10%, so compare
  # against which_set with those defaults.
  for split in ("train", "validation", "test"):
    expected = [os.path.relpath(p, folder) for p, _ in dataset.list_clips(folder, "all")
                if dataset.which_set(os.path.relpath(p, folder)) == split]
    assert [os.path.relpath(p, copy) for p, _ in dataset.list_clips(copy, split)] == expected


def test_list_clips_explains_a_missing_folder(tmp_path):
  with pytest.raises(FileNotFoundError, match="build_speech_data"):
    dataset.list_clips(str(tmp_path / "nowhere"))


def test_tfds_reader_on_mock_data():
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=6):
    waveforms, labels, names = dataset.tfds_split_arrays("train", max_examples=4)
  assert names[:10] == ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes"]
  assert names[10:] == ["_silence_", "_unknown_"]
  assert waveforms.shape == (4, 16000) and waveforms.dtype == np.float32
  assert labels.shape == (4,) and labels.dtype == np.int32
  assert np.all((labels >= 0) & (labels < 12))
  assert np.all(np.abs(waveforms) <= 1.0) and np.any(waveforms != 0)


def test_tfds_reader_explains_missing_data(tmp_path):
  with pytest.raises(dataset.TfdsDataError, match="download=True"):
    dataset.tfds_split_arrays("test", data_dir=str(tmp_path))
  with pytest.raises(ValueError, match="unknown split"):
    dataset.tfds_split_arrays("dev")
