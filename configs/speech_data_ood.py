"""The out-of-distribution keyword yardstick: held-out voices through simulated rooms and devices.

  python -m launch.build_speech_data --config configs/speech_data_ood.py
  python -m launch.eval_kws --workdir runs/kws_embed --data_dir data_cache/speech_commands_ood --split=all

The 35 words spoken by espeak-ng voice variants that no default training set contains
(``synth.HELD_OUT_VARIANTS``: the six Klatt-synthesiser variants and six other characters,
excluded by configs/speech_data.py), at pitches and rates wider than training's, then each clip
passed through a random channel (``v2i_jax.speech.augment.random_channel``): a synthetic room
(RT60 0.2-0.8 s) half of the time, a small microphone's response 70%, a G.711 phone line 20%,
noise at 0-20 dB SNR 80% (babble of four held-out voices, fans, hum, coloured noise), and a
peak level anywhere from -35 to -3 dBFS. Score every clip with ``--split=all``.

It stands in for what users bring (other engines, real people, their rooms and microphones),
from what the project may use; the real check is speech from other engines and people.
"""

import ml_collections

from configs import speech_data
from v2i_jax.speech import synth, words


def get_config() -> ml_collections.ConfigDict:
  config = speech_data.get_config()
  config.out_dir = "data_cache/speech_commands_ood"
  config.num_speakers = 150
  config.seed = 1
  config.exclude_variants = tuple(v for v in synth.available_variants()
                                  if v not in synth.HELD_OUT_VARIANTS)
  config.rate_range = (100, 260)
  config.offset_jitter_seconds = 0.2
  config.noise_probability = 0.0  # The channel adds the noise.
  config.babble_talkers = 4  # Of held-out voices (the build's own speakers).
  config.unknown_words = words.HELD_OUT_UNKNOWN_WORDS
  # Fixed here, whatever the training data's defaults become: the yardstick must not move.
  config.unknown_clips_per_speaker = 3
  config.silence_clips_per_speaker = 1
  config.generated_variants = 0

  config.channel = ml_collections.ConfigDict()
  config.channel.reverb_probability = 0.5
  config.channel.rt60_range = (0.2, 0.8)
  config.channel.microphone_probability = 0.7
  config.channel.telephone_probability = 0.2
  config.channel.noise_probability = 0.8
  config.channel.snr_db_range = (0.0, 20.0)
  config.channel.peak_dbfs_range = (-35.0, -3.0)
  return config
