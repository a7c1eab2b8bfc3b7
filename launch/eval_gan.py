"""Scores a trained GAN with numbers; prints one JSON line.

  python -m launch.eval_gan --workdir=runs/gan_quick
  python -m launch.eval_gan --workdir=runs/gan_quick --step=2000 --num_per_caption=32
  python -m launch.eval_gan --real_only --holdout_source=openmoji

Each of the 35 keywords is a bare caption ("cat", "five"); the GAN draws --num_per_caption
images of each, and the judge of v2i_jax/image/evaluate.py (trained once on the real keyword
emoji, then cached in data_cache/judge/) gives:
  conditional_accuracy   share of the images it labels as their caption's keyword
  feature_fid            Frechet distance of its penultimate features, generated vs real
                         keyword images (NOT comparable to Inception FID)
  real_conditional_accuracy, real_feature_fid   the same numbers for real images (the ceiling;
                         real FID = between two class-stratified halves)
  per_keyword            accuracy per keyword; judged_other: share it calls no keyword at all
--real_only skips the GAN; --holdout_source also trains a judge without that artwork style and
reports its accuracy on it (how well the judge transfers to a style it never saw).
"""

from __future__ import annotations

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import numpy as np

from launch import cli
from v2i_jax.image import data as data_lib
from v2i_jax.image import evaluate
from v2i_jax.image import sampling
from v2i_jax.text import captions as captions_lib
from v2i_jax.text import vectors as vectors_lib
from v2i_jax.training import checkpoint as checkpoint_lib

_WORKDIR = flags.DEFINE_string("workdir", None, "A GAN workdir (holds checkpoints/).")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step to score (default: the newest).")
_NUM_PER_CAPTION = flags.DEFINE_integer("num_per_caption", 16, "Images drawn per keyword.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the GAN's z and conditioning noise.")
_VECTORS = flags.DEFINE_string(
    "vectors", None, "Word vectors for a GAN not trained on GloVe: 'word2vec:<file>[@<limit>]' "
    "(the same file it was trained with).")
_REAL_ONLY = flags.DEFINE_bool("real_only", False, "Only the real-image numbers; no GAN.")
_HOLDOUT_SOURCE = flags.DEFINE_enum(
    "holdout_source", None, data_lib.SOURCES,
    "Also train a judge without this artwork style and report its accuracy on it.")
_JUDGE_CONFIG = cli.define_config_file(
    "judge_config", os.path.join(os.path.dirname(__file__), "..", "configs", "judge.py"),
    "The judge's settings.")


def make_generate_fn(painter: sampling.Painter, kv) -> evaluate.GenerateFn:
  """generate_fn(captions, n_per_caption, seed) -> uint8 images, caption-major."""
  def generate(captions, n_per_caption, seed):
    embeddings = np.repeat(captions_lib.embed_captions(captions, kv), n_per_caption, axis=0)
    return painter.paint_many(embeddings, seed)
  return generate


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments.
  if not _REAL_ONLY.value and not _WORKDIR.value:
    sys.exit("error: pass --workdir=<a GAN workdir>, or --real_only for the real-image numbers.")
  logging.set_verbosity(logging.WARNING)  # orbax logs every restore at INFO.
  try:
    painter = None
    if not _REAL_ONLY.value:  # Checked first: a wrong workdir fails before the judge trains.
      painter = sampling.Painter.restore(_WORKDIR.value, _STEP.value)
      spec = vectors_lib.spec_for(painter.embedding_source, _VECTORS.value)
      generate_fn = make_generate_fn(painter, vectors_lib.load_vectors(spec))
    judge, data, judge_info = evaluate.load_or_train_judge(_JUDGE_CONFIG.value)
    if painter is None:
      result = evaluate.real_ceiling(judge, data, _SEED.value)
    else:
      result = {"workdir": _WORKDIR.value, "step": painter.step}
      result.update(evaluate.evaluate_generator(generate_fn, judge, data,
                                                _NUM_PER_CAPTION.value, _SEED.value))
    result["judge"] = {"dir": evaluate.judge_dir(_JUDGE_CONFIG.value), **judge_info}
    if _HOLDOUT_SOURCE.value:
      result["judge_cross_style"] = evaluate.cross_style_accuracy(_JUDGE_CONFIG.value,
                                                                  _HOLDOUT_SOURCE.value)
  except (OSError, ValueError, checkpoint_lib.CheckpointError) as e:
    cli.exit_with_error(e)
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
