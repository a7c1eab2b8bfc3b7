"""A quarter-width GAN (channels 128/64/32/16 in G, 16/32/64/128 in D) sized to train on the
2-core CPU in minutes: 2,000 steps of batch 64.

It departs from the paper where the paper's GAN cannot learn in that budget (README "GAN",
measured with launch.eval_gan; conditional accuracy on the 35 keyword captions):
- D: spectral normalisation instead of batch norm and Reed et al.'s joint 1x1 conv, so D can
  score whether a caption matches (v2i_jax.image.models.Discriminator): 0.029 -> 0.052;
- D's auxiliary keyword classifier (AC-GAN; 35 keywords + other): -> 0.223;
- an EMA of G's weights for sampling: -> 0.246;
- a projection term in D's logit: -> 0.286;
- pix2pix's L1 term pulling G(z, caption) towards the caption's image, weight 50: -> 0.53.
Then, on the stricter judge that can say "none of these" (README "GAN: the stricter
yardstick"; 2-core Intel Xeon with AVX-512, judge trained there):
- conditional batch norm in G (the caption scales and shifts every BN): 0.163 -> 0.221;
- the L1 term on 16x16 box averages instead of full resolution (layout and colour; D judges
  the detail): -> 0.282, feature-FID 41.0 -> 33.5.
Keyword images (the words the voice model knows) appear 25 times per epoch, about half of each
batch.

  python -m launch.train_gan --config=configs/gan_quick.py --workdir=runs/gan_quick
"""

import ml_collections

from configs import gan_paper


def get_config() -> ml_collections.ConfigDict:
  config = gan_paper.get_config()
  config.width = 0.25
  config.d_norm = "spectral"
  config.d_joint = True
  config.d_classes = 36
  config.d_projection = True
  config.l1_weight = 50.0
  config.l1_resolution = 16
  config.g_conditional_bn = True
  config.g_ema_decay = 0.995
  config.keyword_repeats = 25
  config.num_train_steps = 2000
  config.log_every = 25
  config.sample_every = 250
  config.checkpoint_every = 500
  return config
