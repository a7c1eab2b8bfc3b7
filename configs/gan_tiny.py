"""A tiny GAN for tests and smoke runs: 1/16 width, z 8-d, batch 8, 4 steps, 13 emoji (the tests feed
it random batches instead).

  python -m launch.train_gan --config=configs/gan_tiny.py --workdir=/tmp/gan_tiny
"""

import ml_collections

from configs import gan_paper
from configs import image_data_tiny


def get_config() -> ml_collections.ConfigDict:
  config = gan_paper.get_config()
  config.image_data = image_data_tiny.get_config()
  config.z_dim = 8
  config.width = 1 / 16
  config.augmentation_features = 4
  config.batch_size = 8
  config.num_train_steps = 4
  config.log_every = 1
  config.sample_every = 2
  config.checkpoint_every = 2
  config.samples_per_caption = 2
  config.sample_captions = ("cat", "dog")
  return config
