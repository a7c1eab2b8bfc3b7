"""Scores a trained keyword classifier on any Speech Commands-layout folder; prints one JSON line.

  python -m launch.eval_kws --workdir runs/kws_embed
  python -m launch.eval_kws --workdir runs/kws_cnn --data_dir data_cache/speech_commands_synth
  python -m launch.eval_kws --workdir runs/kws_cnn --data_dir my_recordings --split=all

Without ``--data_dir``: both yardsticks of the model's config, ``{"in_distribution": ...,
"out_of_distribution": ...}``: the test split of its training data (held-out speakers of the
same voices) and every clip of its ``ood_data_dir`` (held-out voice families through simulated
rooms, microphones, phone lines and noise; configs/speech_data_ood.py).

With ``--data_dir``: that folder, which holds ``<word>/<name>.wav`` files; ``--split`` picks the
clips its validation_list.txt/testing_list.txt (or the speaker hash) assign to that split, or
``all``. The line holds accuracy, clip count and per-word accuracy and count.
"""

import os

# XLA reads its flags when JAX starts its backend: the fast-CPU conv flag before any JAX work
# (the speech embedding front end runs 2.2x faster with it: 201 -> 439 clips/s measured).
from v2i_jax.image import layers  # Imports jax but does not start the backend.

os.environ["XLA_FLAGS"] = layers.with_fast_cpu_flag(os.environ.get("XLA_FLAGS", ""))

# pylint: disable=g-import-not-at-top,wrong-import-position
import json

from absl import app
from absl import flags
from absl import logging

from launch import cli
from v2i_jax.speech import dataset
from v2i_jax.speech import recognizer
from v2i_jax.training import checkpoint

_WORKDIR = flags.DEFINE_string("workdir", None, "A launch.train_kws workdir.", required=True)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "A Speech Commands-layout folder (default: both of the model's yardsticks).")
_SPLIT = flags.DEFINE_enum("split", "test", dataset.SPLITS, "Which clips of the folder to score.")
_NON_KEYWORD_WEIGHT = flags.DEFINE_float(
    "non_keyword_weight", None, "Scale of the _unknown_/_silence_ probabilities before the most "
    "probable class is taken, in (0, 1] (default: the model's config, 1 unless it says "
    "otherwise). Smaller: fewer keywords missed, more other words accepted.")


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments.
  logging.set_verbosity(logging.WARNING)  # orbax logs every restore at INFO.
  try:
    if _DATA_DIR.value:
      result = recognizer.evaluate_folder(_WORKDIR.value, _DATA_DIR.value, _SPLIT.value,
                                          non_keyword_weight=_NON_KEYWORD_WEIGHT.value)
    else:
      result = recognizer.evaluate_yardsticks(_WORKDIR.value, _NON_KEYWORD_WEIGHT.value)
  except (OSError, ValueError, checkpoint.CheckpointError) as e:
    cli.exit_with_error(e)
  print(json.dumps(result))


def run():
  """The ``v2i-eval-kws`` console command (``python -m launch.eval_kws``)."""
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
