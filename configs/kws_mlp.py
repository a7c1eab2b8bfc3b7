"""The best keyword MLP we found: the paper's network family with a better front end and optimiser.

  python -m launch.train_kws --config configs/kws_mlp.py --workdir runs/kws_mlp

Differences from configs/kws_mlp_paper.py: Hello Edge's front end (10 MFCCs of 40 mel bands from
40 ms windows every 20 ms at 16 kHz: 51 x 10), wider layers 512,256,256,128 with dropout 0.1,
Adam on one triangular cycle (eta 1e-5..3e-3, n_s = 2000: 4,000 updates), lambda 1e-5, and random
time shifts of up to 3 frames (60 ms).

Measured (default 35-word data of 500 speakers, speaker-held-out test split, 2 shared CPU cores,
load ~11): test accuracy 0.952, validation 0.936, 191 s of training (0.903 / 0.855 on the earlier
400-speaker build).
"""

import ml_collections

from configs import kws_mlp_paper
from configs import mfcc_presets


def get_config() -> ml_collections.ConfigDict:
  config = kws_mlp_paper.get_config()
  config.mfcc = mfcc_presets.modern()
  config.mfcc.update(n_mfcc=10, n_fft=1024, win_length=640, hop_length=320)
  config.model.hidden_sizes = (512, 256, 256, 128)
  config.model.dropout_rate = 0.1
  config.optimizer = "adam"
  config.schedule.eta_min = 1e-5
  config.schedule.eta_max = 3e-3
  config.schedule.step_size = 2000
  config.schedule.num_cycles = 1
  config.weight_decay = 1e-5
  config.augment.time_shift_frames = 3
  return config
