"""Readers for folders in the Speech Commands layout (real v0.01/v0.02 or our synthetic one).

Layout: ``<root>/<word>/<speaker>_nohash_<n>.wav``, ``validation_list.txt`` and
``testing_list.txt`` (paths relative to root), ``_background_noise_/*.wav``. Clips not listed in
either file are training clips. When the lists are missing, the split comes from the same speaker
hash the data set's README describes, so a speaker never lands in two splits.
"""

from __future__ import annotations

import hashlib
import os
import re

SPLITS = ("train", "validation", "test", "all")
BACKGROUND_NOISE_DIR = "_background_noise_"
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # ~134M, from the Speech Commands README.
# Folders of clips that are no keyword (the TensorFlow tutorial's class names): other words
# spoken by the same kinds of voices, and sounds with no speech in them. They are classes of a
# model only when its config asks (``config.non_keywords``); words_in() leaves them out.
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
NON_KEYWORDS = (UNKNOWN, SILENCE)


def is_keyword(label: str) -> bool:
  return label not in NON_KEYWORDS


def speaker_of(filename: str) -> str:
  """``.../dog/0a7c2a8d_nohash_0.wav`` -> ``0a7c2a8d``."""
  return re.sub(r"_nohash_.*$", "", os.path.basename(filename))


def which_set(filename: str, validation_percentage: float = 10.0,
              testing_percentage: float = 10.0) -> str:
  """The Speech Commands README's split: a stable hash of the speaker id, so all clips of one
  speaker go to the same split whatever files are added later."""
  hash_name_hashed = hashlib.sha1(speaker_of(filename).encode("utf-8")).hexdigest()
  percentage_hash = ((int(hash_name_hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) *
                     (100.0 / MAX_NUM_WAVS_PER_CLASS))
  if percentage_hash < validation_percentage:
    return "validation"
  if percentage_hash < testing_percentage + validation_percentage:
    return "test"
  return "train"


def words_in(data_dir: str) -> list[str]:
  """The word folders of a Speech Commands-layout folder, sorted (label i = words[i])."""
  _check_layout(data_dir)
  return sorted(d for d in os.listdir(data_dir)
                if os.path.isdir(os.path.join(data_dir, d)) and not d.startswith((".", "_")))


def list_clips(data_dir: str, split: str = "train",
               words: list[str] | None = None) -> list[tuple[str, int]]:
  """``(absolute path, label)`` for every clip of ``split``, sorted by path.

  ``words`` fixes the label order (default: :func:`words_in`); clips of other words are skipped.
  """
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; use one of {SPLITS}.")
  words = words_in(data_dir) if words is None else list(words)
  listed = {s: _read_list(data_dir, f"{s}_list.txt") for s in ("validation", "testing")}
  have_lists = all(v is not None for v in listed.values())
  out = []
  for label, word in enumerate(words):
    folder = os.path.join(data_dir, word)
    if not os.path.isdir(folder):
      continue
    for name in sorted(os.listdir(folder)):
      if not name.lower().endswith(".wav"):
        continue
      rel = f"{word}/{name}"
      if have_lists:
        clip_split = ("validation" if rel in listed["validation"] else
                      "test" if rel in listed["testing"] else "train")
      else:
        clip_split = which_set(rel)
      if split in ("all", clip_split):
        out.append((os.path.join(folder, name), label))
  return out


def _read_list(data_dir: str, name: str) -> set[str] | None:
  path = os.path.join(data_dir, name)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return {line.strip() for line in f if line.strip()}


def _check_layout(data_dir: str) -> None:
  if not os.path.isdir(data_dir):
    raise FileNotFoundError(
        f"{data_dir}: no such folder. Expected the Speech Commands layout "
        "<root>/<word>/<speaker>_nohash_<n>.wav; build the default one with "
        "`python -m launch.build_speech_data`.")


class TfdsDataError(RuntimeError):
  """The tensorflow-datasets copy of Speech Commands is missing; the message says the fix."""


def tfds_split_arrays(split: str, data_dir: str | None = None, max_examples: int | None = None,
                      download: bool = False):
  """One split of the tensorflow-datasets ``speech_commands`` builder as arrays.

  That builder is the 12-class task (10 words, ``_silence_``, ``_unknown_``) over the real v0.02.
  Returns ``(waveforms, labels, names)``: float32 ``[n, 16000]`` (shorter clips zero-padded),
  int32 ``[n]``, and the class names (label i = names[i]). ``download=True`` fetches and prepares
  the data (about 2.4 GB, needs a network); otherwise it must already be in ``data_dir``.
  TensorFlow is imported here only, so the rest of the package runs without it.
  """
  import numpy as np
  import tensorflow_datasets as tfds

  from v2i_jax import audio

  if split not in ("train", "validation", "test"):
    raise ValueError(f"unknown split {split!r}; use train, validation or test.")
  builder = tfds.builder("speech_commands", data_dir=data_dir)
  if download:
    builder.download_and_prepare()
  try:
    ds = builder.as_dataset(split=split, shuffle_files=False)
  except AssertionError as e:  # tfds' "could not find data" check.
    raise TfdsDataError(
        f"tensorflow-datasets has no prepared speech_commands in {builder.data_dir!r} ({e}); "
        "pass download=True on a machine with a network, or extract the real data set and read "
        "it with list_clips().") from e
  if max_examples is not None:
    ds = ds.take(max_examples)
  waveforms, labels = [], []
  for example in tfds.as_numpy(ds):
    samples = example["audio"].astype(np.float32) / 32768.0
    waveforms.append(audio.fit_length(samples, audio.SAMPLE_RATE))
    labels.append(int(example["label"]))
  names = list(builder.info.features["label"].names)
  return (np.stack(waveforms).astype(np.float32) if waveforms
          else np.zeros((0, audio.SAMPLE_RATE), np.float32),
          np.asarray(labels, np.int32), names)
