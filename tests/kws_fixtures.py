"""A tiny Speech Commands-layout folder of tone "words" for the keyword tests (no TTS needed).

Word i is a 0.4 s tone at ``TONE_HZ[i]`` with a speaker-specific pitch offset, onset and noise,
so a classifier has something real to learn and held-out speakers differ from training ones.
"""

import functools
import os

import numpy as np

from v2i_jax import audio

WORDS = ("high", "low", "mid")
# "other" stands for a word that is no keyword (the _unknown_ folder of non_keyword datasets).
TONE_HZ = {"low": 300.0, "mid": 900.0, "high": 2500.0, "other": 5500.0}
TRAIN_SPEAKERS = 12
HELD_OUT_SPEAKERS = 2  # each for validation and test


def tone_word(word: str, rng: np.random.Generator, seconds: float = 0.4,
              sample_rate: int = audio.SAMPLE_RATE) -> np.ndarray:
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  hz = TONE_HZ[word] * rng.uniform(0.93, 1.07)
  envelope = np.sin(np.pi * t / seconds)  # fades in and out like a spoken word
  return (rng.uniform(0.2, 0.6) * envelope * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def make_tone_dataset(root: str, seed: int = 0, non_keywords: bool = False) -> str:
  """Writes ``root/<word>/<speaker>_nohash_0.wav`` and the split lists; returns ``root``.
  With ``non_keywords``, also ``_unknown_/`` ("other" tones) and ``_silence_/`` (noise only)."""
  rng = np.random.default_rng(seed)
  speakers = [f"spk{i:05d}" for i in range(TRAIN_SPEAKERS + 2 * HELD_OUT_SPEAKERS)]
  validation = speakers[TRAIN_SPEAKERS:TRAIN_SPEAKERS + HELD_OUT_SPEAKERS]
  test = speakers[TRAIN_SPEAKERS + HELD_OUT_SPEAKERS:]
  lists = {"validation_list.txt": [], "testing_list.txt": []}
  folders = WORDS + (("_unknown_", "_silence_") if non_keywords else ())
  for word in folders:
    os.makedirs(os.path.join(root, word), exist_ok=True)
    for speaker in speakers:
      clip = np.zeros(audio.SAMPLE_RATE, np.float32)
      if word != "_silence_":
        word_audio = tone_word("other" if word == "_unknown_" else word, rng)
        start = rng.integers(0, audio.SAMPLE_RATE - len(word_audio))
        clip[start:start + len(word_audio)] = word_audio
      clip += rng.normal(0, 0.003, clip.shape).astype(np.float32)
      name = f"{word}/{speaker}_nohash_0.wav"
      audio.write_wav(os.path.join(root, name), clip)
      if speaker in validation:
        lists["validation_list.txt"].append(name)
      elif speaker in test:
        lists["testing_list.txt"].append(name)
  for list_name, names in lists.items():
    with open(os.path.join(root, list_name), "w") as f:
      f.write("\n".join(names) + "\n")
  return root


def tiny_config(data_dir: str, cache_dir: str, **overrides):
  from configs import kws_tiny  # pylint: disable=g-import-not-at-top
  config = kws_tiny.get_config()
  config.data_dir = data_dir
  config.cache_dir = cache_dir
  config.update(overrides)
  return config


@functools.lru_cache(maxsize=None)
def trained_tone_run(root: str):
  """``(config, data_dir, cache_dir, workdir, results)`` of one kws_tiny training on tone words,
  trained once per test process however many test modules ask (pass a session temp folder)."""
  from v2i_jax.speech import train  # pylint: disable=g-import-not-at-top
  data_dir = make_tone_dataset(os.path.join(root, "tones"))
  cache_dir = os.path.join(root, "cache")
  config = tiny_config(data_dir, cache_dir)
  workdir = os.path.join(root, "run")
  return config, data_dir, cache_dir, workdir, train.train_and_evaluate(config, workdir)
