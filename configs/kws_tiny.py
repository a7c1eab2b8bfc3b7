"""A keyword classifier small enough for tests and smoke runs (seconds on a CPU).

  python -m launch.train_kws --config configs/kws_tiny.py --workdir /tmp/kws_tiny \
      --config.data_dir=/tmp/tiny_speech

Point ``data_dir`` at a small folder (e.g. one built with configs/speech_data_tiny.py).
"""

import ml_collections

from configs import kws_mlp_paper
from configs import mfcc_presets


def get_config() -> ml_collections.ConfigDict:
  config = kws_mlp_paper.get_config()
  config.data_dir = "data_cache/speech_commands_synth_tiny"
  config.ood_data_dir = ""
  config.mfcc = mfcc_presets.modern()
  config.mfcc.n_mfcc = 13
  config.mfcc.n_mels = 26
  config.mfcc.hop_length = 320  # 51 frames
  config.model.hidden_sizes = (32, 16)
  config.optimizer = "momentum"
  config.schedule.eta_min = 1e-3
  config.schedule.eta_max = 5e-2
  config.schedule.step_size = 10
  config.schedule.num_cycles = 2
  config.batch_size = 8
  config.eval_batch_size = 16
  config.log_every_steps = 5
  config.eval_every_steps = 20
  config.checkpoint_every_steps = 10
  return config
