"""Trains the conditional DC-GAN; a rerun with the same --workdir resumes from its last checkpoint.

  python -m launch.train_gan --config=configs/gan_quick.py --workdir=runs/gan_quick
  python -m launch.train_gan --config=configs/gan_paper.py --workdir=runs/gan_paper \
      --config.dataset=flickr30k --config.manual_dir=/data/flickr30k

On several processes (hosts), run the same command on each with --coordinator_address=HOST:PORT
(of process 0), --num_processes=N and --process_id=I, or under srun/mpirun without them
(README: "Training on several machines").

The data comes from the config (v2i_jax.image.train.default_batches: the emoji set built from
installed packages by default, captions embedded with GloVe 6B 50-d). The workdir gets
checkpoints/, tensorboard/, metrics.jsonl, samples/step_*.png (rows: config.sample_captions,
columns: fixed z) and loss_curves.png.
"""

import os
import sys

# XLA reads its flags when JAX starts its backend: add the fast-CPU conv flag before any JAX work,
# and keep freed memory in the process (no page faults on each step's buffers) before its threads
# start.
from v2i_jax.image import layers  # Imports jax but does not start the backend.
from v2i_jax.training import host_memory

os.environ["XLA_FLAGS"] = layers.with_fast_cpu_flag(os.environ.get("XLA_FLAGS", ""))
host_memory.keep_freed_memory()

# pylint: disable=g-import-not-at-top,wrong-import-position
import json

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from launch import cli
from v2i_jax.image import train
from v2i_jax.training import checkpoint
from v2i_jax.training import distributed
from v2i_jax.training import loop

_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, samples and logs go.",
                               required=True)
config_flags.DEFINE_config_file("config", None, "A configs/gan_*.py file.", lock_config=True)
distributed.define_flags()
_RESTORE_STEP = cli.define_restore_step_flag()


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments.
  config = flags.FLAGS.config
  if config is None:
    sys.exit("error: --config is required, e.g. --config=configs/gan_quick.py.")
  logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint write at INFO.
  try:
    distributed.initialize_from_flags()  # Before anything starts JAX's backend.
    state = train.train_and_evaluate(config, _WORKDIR.value,
                                     restore_step=_RESTORE_STEP.value)
  except (OSError, ValueError, checkpoint.CheckpointError, loop.NonFiniteLossError) as e:
    cli.exit_with_error(e, _WORKDIR.value)
  if distributed.is_primary():
    print(json.dumps({"workdir": _WORKDIR.value, "steps": int(state.step),
                      "samples": os.path.join(_WORKDIR.value, "samples"),
                      "loss_curves": os.path.join(_WORKDIR.value, "loss_curves.png")}))


def run():
  """The ``v2i-train-gan`` console command (``python -m launch.train_gan``)."""
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
