"""A quarter-width GAN (channels 128/64/32/16 in G, 16/32/64/128 in D) sized to train on the
2-core CPU in minutes: 2,000 steps of batch 64.

It departs from the paper's D where the paper's D cannot learn (see
v2i_jax.image.models.Discriminator): spectral normalisation instead of batch norm (feature-FID
145 -> 67 at the same budget, measured with launch.eval_gan) and Reed et al.'s joint 1x1 conv, so
D can score whether a caption matches. Keyword images (the words the voice model knows) appear
25 times per epoch, about half of each batch.

  python -m launch.train_gan --config=configs/gan_quick.py --workdir=runs/gan_quick
"""

import ml_collections

from configs import gan_paper


def get_config() -> ml_collections.ConfigDict:
  config = gan_paper.get_config()
  config.width = 0.25
  config.d_norm = "spectral"
  config.d_joint = True
  config.keyword_repeats = 25
  config.num_train_steps = 2000
  config.log_every = 25
  config.sample_every = 250
  config.checkpoint_every = 500
  return config
