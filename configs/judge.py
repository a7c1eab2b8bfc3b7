"""The judge: a small CNN over the 35 keyword classes (+ "other") that scores GAN images.

It is trained once per (emoji set, these settings) and cached under ``cache_dir``; the first
``launch.eval_gan`` run trains it (about a minute on 2 CPU cores), later runs restore it.

  python -m launch.eval_gan --workdir=runs/gan_quick              # a GAN run's numbers
  python -m launch.eval_gan --real_only --holdout_source=openmoji  # real-image ceiling + a
                                                                   # judge tested on an unseen style
"""

import ml_collections

from configs import image_data


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.data = image_data.get_config()  # The emoji set whose keyword images it learns.
  config.cache_dir = "data_cache/judge"
  config.seed = 0

  # Model: the 64x64 input is averaged down to input_size, then one 3x3 conv (ReLU,
  # 2x2 max-pool) per entry of channels, a global mean and a dense layer of `features` units:
  # the features the feature-FID is computed on.
  config.input_size = 32
  config.channels = (32, 64, 128)
  config.features = 128
  # A 36th class for every non-keyword emoji, so a picture that looks like no keyword is not
  # forced onto the nearest one: conditional accuracy then counts only images the judge
  # recognises as the keyword among ~5,000 other emoji too.
  config.other_class = True
  # Share of each batch drawn from the other emoji: about one class's share, so that "other"
  # is not the prior favourite (at 0.25 the judge first learned to call everything "other").
  config.other_fraction = 0.05

  # Training: keyword images drawn class-balanced, heavy augmentation (there are only ~240).
  config.batch_size = 64
  config.num_steps = 600
  config.learning_rate = 1e-2
  config.warmup_steps = 30
  config.weight_decay = 1e-4
  config.label_smoothing = 0.1

  # Augmentation, fresh per image and step. Never mirrored: "left" and "right" are mirror images.
  config.augment = ml_collections.ConfigDict()
  config.augment.max_rotation_degrees = 10.0
  config.augment.scale_range = (0.8, 1.1)
  config.augment.max_shift = 0.08  # Fraction of the side.
  config.augment.brightness = 0.2  # +- on [-1, 1] pixels.
  config.augment.contrast = 0.3  # Factor in 1 +- this.
  config.augment.saturation = 0.4  # Factor in 1 +- this.
  config.augment.max_blur = 0.7  # Blend weight of a 3x3 box blur applied twice.
  config.augment.max_noise = 0.08  # Std of added gaussian noise, drawn in [0, max_noise].
  return config
