"""The word lists of the offline keyword data keep apart what must stay apart."""

import re

from configs import speech_data, speech_data_ood
from v2i_jax.speech import words

_SUFFIXES = ("", "s", "es", "ed", "d", "ing", "er", "ers", "ly", "y", "ies", "th", "teen", "ty")


def _forms(base):
  return {b + s for b in list(base) for s in _SUFFIXES}


def test_training_unknown_words_are_no_keyword_homophone_or_held_out_word():
  train = set(words.TRAIN_UNKNOWN_WORDS)
  assert len(train) == len(words.TRAIN_UNKNOWN_WORDS)  # No repeats.
  assert not train & _forms(words.WORDS_V2)
  assert not train & set(words.KEYWORD_HOMOPHONES)
  # Held-out words with a suffix ("numbers") are not trained on; "and" is not "an" + d.
  assert not train & _forms(w for w in words.HELD_OUT_UNKNOWN_WORDS if len(w) > 2)
  assert all(re.fullmatch(r"[a-z]+", w) for w in train)


def test_held_out_unknown_words_are_no_keyword():
  held = set(words.HELD_OUT_UNKNOWN_WORDS)
  assert not held & set(words.WORDS_V2) and not held & set(words.KEYWORD_HOMOPHONES)


def test_configs_use_the_lists():
  assert tuple(speech_data.get_config().unknown_words) == words.TRAIN_UNKNOWN_WORDS
  assert tuple(speech_data_ood.get_config().unknown_words) == words.HELD_OUT_UNKNOWN_WORDS
  assert len(words.COMMON_WORDS) == 1200
