"""The best keyword MLP we found (the paper's network family, modern features and optimiser).

  python -m launch.train_kws --config configs/kws_mlp.py --workdir runs/kws_mlp

Differences from configs/kws_mlp_paper.py: 40 MFCCs x 101 frames at 16 kHz (25 ms window, 10 ms
hop), wider layers, dropout, Adam on a one-cycle triangular schedule, time-shift augmentation.
Accuracy reached: see the README's keyword table.
"""

import ml_collections

from configs import kws_mlp_paper
from configs import mfcc_presets


def get_config() -> ml_collections.ConfigDict:
  config = kws_mlp_paper.get_config()
  config.mfcc = mfcc_presets.modern()
  config.model.hidden_sizes = (512, 256, 256, 128)
  config.model.dropout_rate = 0.2
  config.optimizer = "adam"
  config.schedule.eta_min = 1e-5
  config.schedule.eta_max = 2e-3
  config.schedule.step_size = 1500
  config.schedule.num_cycles = 1
  config.weight_decay = 1e-5
  config.augment.time_shift_frames = 10
  return config
