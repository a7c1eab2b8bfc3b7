"""Offline keyword data with the 30 words of Speech Commands v0.01.

  python -m launch.build_speech_data --config configs/speech_data_v1.py
"""

import ml_collections

from configs import speech_data
from v2i_jax.speech import words


def get_config() -> ml_collections.ConfigDict:
  config = speech_data.get_config()
  config.out_dir = "data_cache/speech_commands_synth_v1"
  config.words = words.WORDS_V1
  return config
