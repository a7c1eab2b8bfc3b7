"""Scores a trained GAN with numbers; prints one JSON line.

  python -m launch.eval_gan --workdir=runs/gan_quick
  python -m launch.eval_gan --workdir=runs/gan_quick --step=2000 --num_per_caption=32
  python -m launch.eval_gan --real_only --holdout_source=openmoji

Each of the 35 keywords is a bare caption ("cat", "five"); the GAN paints --num_per_caption
images of each exactly as `Pipeline.from_text(word, num_images=N, seed=S)` does (the same z for
every keyword), and the judge of v2i_jax/image/evaluate.py (trained once on the real keyword
emoji and ~1,900 other emoji as an "other" class, then cached in data_cache/judge/) gives:
  conditional_accuracy   share of the images it names as their caption's keyword, at least as
                         sure as its calibrated threshold ("other" and unsure count as misses)
  judged_other           share it calls no keyword ("none of these")
  argmax_accuracy        the judge forced to pick among its classes (the older, kinder number)
  diversity, min_diversity   per keyword, sample / real mean pairwise judge-feature distance
                         (mean and worst keyword); 0 = one picture whatever z
  pixel_spread           mean per-pixel std over z (0..255); real_pixel_spread for real images
  coverage, density      Naeem et al. 2020 per keyword in judge features (k = 3), averaged
  nearest_real_coverage  share of a keyword's real artworks that are some sample's nearest one
  memorisation_ratio, near_copy_rate   sample-to-nearest-real pixel distance over real-to-real
                         (near 0: copies)
  feature_fid            Frechet distance of the judge's features, generated vs real keyword
                         images (NOT comparable to Inception FID)
  real_*                 the same numbers for real images (the ceiling)
  per_keyword, keywords_below_half
It also writes WORKDIR/eval/per_keyword.md (the table, worst keyword first) and
WORKDIR/eval/grid_step_XXXXXX.png (rows: the 35 keywords, columns: the --num_per_caption z);
--grid_out copies the grid elsewhere (e.g. docs/).
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
from v2i_jax.image import train as gan_train
from v2i_jax.text import captions as captions_lib
from v2i_jax.text import vectors as vectors_lib
from v2i_jax.training import checkpoint as checkpoint_lib

_WORKDIR = flags.DEFINE_string("workdir", None, "A GAN workdir (holds checkpoints/).")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step to score (default: the newest).")
_NUM_PER_CAPTION = flags.DEFINE_integer("num_per_caption", 16, "Images drawn per keyword.")
_SEED = cli.define_seed_flag(1, "the GAN's z and conditioning noise (as from_text's seed)")
_GRID_OUT = flags.DEFINE_string("grid_out", None, "Also write the keyword x z grid PNG here.")
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
  """generate_fn(captions, n_per_caption, seed) -> uint8 images, caption-major; each caption
  painted as ``Pipeline.from_text(caption, num_images=n_per_caption, seed=seed)`` paints it."""
  def generate(captions, n_per_caption, seed):
    embeddings = captions_lib.embed_captions(captions, kv)
    return np.concatenate([painter.paint(e, n_per_caption, seed) for e in embeddings])
  return generate


def write_reports(result: dict, workdir: str, grid_out: str | None) -> None:
  """WORKDIR/eval/per_keyword.md and the keyword x z grid (``result["images"]`` is consumed)."""
  images = result.pop("images")
  out_dir = os.path.join(workdir, "eval")
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "per_keyword.md"), "w") as f:
    f.write(f"{workdir}, step {result['step']}: conditional accuracy "
            f"{result['conditional_accuracy']:.3f}, judged other {result['judged_other']:.3f}, "
            f"diversity {result['diversity']:.2f} (min {result['min_diversity']:.2f}), coverage "
            f"{result['coverage']:.2f}\n\n")
    f.write(evaluate.per_keyword_table(result))
  n = len(images) // len(data_lib.KEYWORDS)
  grid = gan_train.image_grid(images.reshape(len(data_lib.KEYWORDS), n, *images.shape[1:]),
                              data_lib.KEYWORDS)
  paths = [os.path.join(out_dir, f"grid_step_{result['step']:06d}.png")]
  paths += [grid_out] if grid_out else []
  for path in paths:
    gan_train.save_png(path, grid)
  result["reports"] = paths + [os.path.join(out_dir, "per_keyword.md")]


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
                                                _NUM_PER_CAPTION.value, _SEED.value,
                                                return_images=True))
      write_reports(result, _WORKDIR.value, _GRID_OUT.value)
    result["judge"] = {"dir": evaluate.judge_dir(_JUDGE_CONFIG.value), **judge_info}
    if _HOLDOUT_SOURCE.value:
      result["judge_cross_style"] = evaluate.cross_style_accuracy(_JUDGE_CONFIG.value,
                                                                  _HOLDOUT_SOURCE.value)
  except (OSError, ValueError, checkpoint_lib.CheckpointError) as e:
    cli.exit_with_error(e)
  print(json.dumps(result))


def run():
  """The ``v2i-eval-gan`` console command (``python -m launch.eval_gan``)."""
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
