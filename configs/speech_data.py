"""Default offline keyword data: the 35 Speech Commands v0.02 words spoken by espeak-ng voices.

  python -m launch.build_speech_data --config configs/speech_data.py

500 speakers (all 8 English accents x every usable voice variant, pitch 0-99, 120-240 wpm), one
clip per speaker and word: 17,500 one-second clips (560 MB); 397/51/52 speakers in train/
validation/test by the Speech Commands speaker hash. Builds in 1-3 min on 2 shared CPU cores
(51-171 s measured, load 4-11; 41 s of CPU).

Chosen by measurement (configs/kws_mlp.py, 3000 steps, held-out speakers, validation/test):
400 speakers with the word anywhere in the second 76.5%/82.5%; centred +-0.15 s 85.1%/88.8%;
500 speakers centred 86.3%/88.9%.
"""

import ml_collections

from v2i_jax.speech import synth, words


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.out_dir = "data_cache/speech_commands_synth"
  config.words = words.WORDS_V2
  config.num_speakers = 500
  config.clips_per_word = 1  # Repetitions of each word by each speaker (later ones vary a bit).
  config.seed = 0

  # Non-keyword classes (dataset.UNKNOWN, dataset.SILENCE): other words by the same speakers,
  # and clips with no speech.
  config.unknown_words = words.TRAIN_UNKNOWN_WORDS
  config.unknown_clips_per_speaker = 3
  config.silence_clips_per_speaker = 1

  # Who speaks: accent x variant pairs are dealt evenly; pitch (espeak 0-99) and rate (words
  # per minute) are uniform per speaker.
  config.accents = synth.ENGLISH_ACCENTS
  # Held out for the out-of-distribution yardstick (configs/speech_data_ood.py).
  config.exclude_variants = synth.HELD_OUT_VARIANTS
  # Voice variants drawn at random (v2i_jax.speech.voices: vocal-tract length, formants, pitch,
  # breath, roughness), added to the deck of shipped variants.
  config.generated_variants = 0
  config.generated_variant_seed = 0
  config.pitch_range = (0, 99)
  config.rate_range = (120, 240)
  config.max_word_seconds = 0.9  # Slower voices speed up to fit; nothing is ever cut.

  # How it sounds: where the word sits (centre +- jitter), its peak level, and background
  # noise (from _background_noise_/).
  config.offset_jitter_seconds = 0.15
  config.peak_dbfs_range = (-30.0, -1.0)
  config.noise_probability = 0.8
  config.snr_db_range = (10.0, 40.0)
  config.background_noise_seconds = 30.0
  # _background_noise_/babble.wav: this many of the build's (training) voices talking at once,
  # for the channel augmentation of configs/kws_embed.py.
  config.babble_talkers = 4

  # The Speech Commands README's split percentages (hash of the speaker id).
  config.validation_percentage = 10.0
  config.testing_percentage = 10.0
  return config
