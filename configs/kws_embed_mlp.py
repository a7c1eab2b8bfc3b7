"""configs/kws_embed with the flat MLP head (256-128, batch norm, dropout 0.2) over the 9 x 96
embeddings instead of the temporal CNN: the ablation's previous row.

  python -m launch.train_kws --config configs/kws_embed_mlp.py --workdir runs/kws_embed_mlp

Measured: out-of-distribution accuracy 0.860, in distribution 0.954, validation 0.939.
"""

import ml_collections

from configs import kws_embed


def get_config() -> ml_collections.ConfigDict:
  config = kws_embed.get_config()
  config.model = ml_collections.ConfigDict(dict(
      name="mlp", hidden_sizes=(256, 128), dropout_rate=0.2))
  return config
