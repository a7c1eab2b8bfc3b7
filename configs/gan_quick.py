"""A quarter-width GAN (channels 128/64/32/16 in G, 16/32/64/128 in D) sized to train on the
2-core CPU in <= 8 minutes: 2,500 steps of batch 64 at ~430 samples/s (benchmarks/gan_step.py,
idle machine).

  python -m launch.train_gan --config=configs/gan_quick.py --workdir=runs/gan_quick
"""

import ml_collections

from configs import gan_paper


def get_config() -> ml_collections.ConfigDict:
  config = gan_paper.get_config()
  config.width = 0.25
  config.num_train_steps = 2500
  config.log_every = 25
  config.sample_every = 250
  config.checkpoint_every = 500
  return config
