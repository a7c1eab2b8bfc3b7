"""Random search over lambda and the cyclic schedule (coarse, then fine), as the paper did it.

  python -m launch.search_kws --config configs/kws_mlp_paper.py --workdir runs/kws_search \
      --num_coarse=12 --num_fine=6

Trials are ranked by validation accuracy. Writes <workdir>/trials.csv (one row per trial),
best_config.json and best_overrides.txt (the --config.x=y flags of the best trial, to pass to
launch.train_kws). A rerun with the same flags skips finished trials.
"""

import json
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from launch import cli
from v2i_jax.speech import search
from v2i_jax.training import checkpoint
from v2i_jax.training import loop

_WORKDIR = flags.DEFINE_string("workdir", None, "Where trials.csv, trials/ and the best config go.",
                               required=True)
_NUM_COARSE = flags.DEFINE_integer("num_coarse", 12, "Trials drawn from the coarse ranges.")
_NUM_FINE = flags.DEFINE_integer("num_fine", 6, "Trials drawn around the best coarse trial.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the trial draws.")
config_flags.DEFINE_config_file("config", None, "The base configs/kws_*.py file.",
                                lock_config=True)


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments.
  if flags.FLAGS.config is None:
    sys.exit("error: --config is required, e.g. --config configs/kws_mlp_paper.py.")
  if _NUM_COARSE.value < 1 or _NUM_FINE.value < 0:
    sys.exit("error: need --num_coarse >= 1 and --num_fine >= 0.")
  logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint write at INFO.
  try:
    best = search.run_search(flags.FLAGS.config, _WORKDIR.value, _NUM_COARSE.value,
                             _NUM_FINE.value, _SEED.value)
  except (OSError, ValueError, checkpoint.CheckpointError, loop.NonFiniteLossError) as e:
    cli.exit_with_error(e, _WORKDIR.value)
  print(json.dumps(best))


def run():
  """The ``v2i-search-kws`` console command (``python -m launch.search_kws``)."""
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
