"""The compact depthwise-separable CNN keyword spotter (DS-CNN, "Hello Edge"), the better option.

  python -m launch.train_kws --config configs/kws_cnn.py --workdir runs/kws_cnn

40 MFCCs x 101 frames at 16 kHz; conv 10x4 stride 2 to 64 channels, 4 depthwise-separable
blocks, average pool, dense; Adam on a one-cycle triangular schedule; time shift and
SpecAugment-style masks. Accuracy reached: see the README's keyword table.
"""

import ml_collections

from configs import kws_mlp_paper
from configs import mfcc_presets


def get_config() -> ml_collections.ConfigDict:
  config = kws_mlp_paper.get_config()
  config.mfcc = mfcc_presets.modern()
  config.model = ml_collections.ConfigDict()
  config.model.name = "cnn"
  config.model.channels = 64
  config.model.num_blocks = 4
  config.model.first_kernel = (10, 4)
  config.model.first_stride = (2, 2)
  config.model.dropout_rate = 0.1
  config.optimizer = "adam"
  config.schedule.eta_min = 1e-5
  config.schedule.eta_max = 3e-3
  config.schedule.step_size = 1500
  config.schedule.num_cycles = 1
  config.weight_decay = 1e-5
  config.augment.time_shift_frames = 10
  config.augment.time_mask_frames = 10
  config.augment.freq_mask_coeffs = 5
  return config
