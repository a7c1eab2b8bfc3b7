"""A few words by a few speakers, for tests and smoke runs (a couple of seconds to build).

  python -m launch.build_speech_data --config configs/speech_data_tiny.py --out_dir /tmp/tiny
"""

import ml_collections

from configs import speech_data


def get_config() -> ml_collections.ConfigDict:
  config = speech_data.get_config()
  config.out_dir = "data_cache/speech_commands_synth_tiny"
  config.words = ("cat", "marvin", "yes")
  config.num_speakers = 12
  config.background_noise_seconds = 2.0
  config.babble_talkers = 0
  config.unknown_clips_per_speaker = 0
  config.silence_clips_per_speaker = 0
  # With 12 speakers the README's 10%/10% could leave a split empty; 30%/30% fills all three.
  config.validation_percentage = 30.0
  config.testing_percentage = 30.0
  return config
