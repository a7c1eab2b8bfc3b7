"""GAN workdirs for tests that need a GAN that restores, not one that draws well."""

import os

import jax
import numpy as np

from configs import gan_tiny
from v2i_jax.image import train as gan_train
from v2i_jax.training import checkpoint


def write_untrained_gan(workdir: str, steps=(1,), **overrides) -> str:
  """A gan_tiny workdir holding checkpoints (default: step 1) of random weights, written directly.
  Plain convolutions: the same parameters as the fast form, and half the compile time."""
  config = gan_tiny.get_config()
  config.fast_layers = False
  config.update(overrides)
  abstract = jax.eval_shape(lambda: gan_train.create_train_state(jax.random.PRNGKey(0), config))
  rng = np.random.default_rng(0)

  def fill(path, leaf):
    if getattr(path[-1], "key", None) == "var":  # batch-norm variances must be positive
      return np.ones(leaf.shape, leaf.dtype)
    return (0.05 * rng.standard_normal(leaf.shape)).astype(leaf.dtype)

  state = jax.tree_util.tree_map_with_path(fill, abstract)
  with checkpoint.Checkpointer(os.path.join(workdir, "checkpoints")) as ckpt:
    for step in steps:
      ckpt.save(step, state, gan_train.checkpoint_meta(config))
  return workdir
