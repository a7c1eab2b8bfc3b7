"""A trained generator, restored for inference: caption embeddings -> pictures.

Used by the voice -> image pipeline and by the GAN evaluation. The generator is rebuilt from the
config stored in the checkpoint, so restoring needs nothing but the workdir.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from v2i_jax import options
from v2i_jax.image import train as gan_train
from v2i_jax.training import checkpoint as checkpoint_lib

CHECKPOINT_DIR = "checkpoints"
# paint_many() runs G on fixed-size chunks: one compilation for any number of images.
CHUNK = 256


@dataclasses.dataclass(frozen=True)
class Painter:
  """A restored generator (EMA weights when the run kept them, running BN statistics)."""
  config: ml_collections.ConfigDict
  meta: dict[str, Any]
  step: int
  _generator: Any
  _variables: Any

  @classmethod
  def restore(cls, workdir: str, step: int | None = None) -> "Painter":
    """The newest (or the given) checkpoint of a ``launch.train_gan`` workdir."""
    directory = os.path.join(workdir, CHECKPOINT_DIR)
    if not os.path.isdir(directory):
      raise checkpoint_lib.CheckpointError(
          f"{workdir} holds no GAN checkpoints ({directory} is missing); train one with "
          "`python -m launch.train_gan --config configs/gan_quick.py --workdir ...`.")
    with checkpoint_lib.Checkpointer(directory, create=False) as ckpt:
      meta = ckpt.restore_meta(step)
      if "embedding_source" not in meta or "config" not in meta:
        raise checkpoint_lib.CheckpointError(
            f"the checkpoint in {workdir} was not written by launch.train_gan (its metadata "
            "has no embedding_source); pass a GAN workdir.")
      config = gan_train.upgrade_config(ml_collections.ConfigDict(meta["config"]))
      device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
      target = jax.tree_util.tree_map(
          lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device),
          jax.eval_shape(lambda: gan_train.create_train_state(jax.random.PRNGKey(0), config)))
      restored_step, state, _ = ckpt.restore(target, step)
    return cls(config=config, meta=meta, step=int(restored_step), _generator=state.generator,
               _variables=state.generator_variables())

  @property
  def embedding_dim(self) -> int:
    return int(self.meta["embedding_dim"])

  @property
  def embedding_source(self) -> str:
    return self.meta["embedding_source"]

  def paint(self, embedding: np.ndarray, num_images: int, seed: int) -> np.ndarray:
    """``num_images`` pictures ``[n, 64, 64, 3]`` uint8 of one caption embedding ``[E]``.

    ``seed``: 0 .. 2^31 - 1 and ``num_images``: 1 .. 256 (:mod:`v2i_jax.options`)."""
    num_images = options.check_num_images(num_images)
    rng = jax.random.PRNGKey(options.check_seed(seed))
    z = jax.random.normal(jax.random.fold_in(rng, 0), (num_images, self.config.z_dim))
    embeddings = jnp.broadcast_to(jnp.asarray(embedding, jnp.float32),
                                  (num_images, self.embedding_dim))
    return np.asarray(gan_train.generate_images_jit(
        self._generator, self._variables, z, embeddings, jax.random.fold_in(rng, 1)))

  def paint_many(self, embeddings: np.ndarray, seed: int) -> np.ndarray:
    """One picture per row of ``embeddings`` ``[N, E]`` (e.g. many captions), in chunks."""
    embeddings = np.asarray(embeddings, np.float32)
    rng = jax.random.PRNGKey(options.check_seed(seed))
    z = np.asarray(jax.random.normal(jax.random.fold_in(rng, 0),
                                     (len(embeddings), self.config.z_dim)))
    images = []
    for start in range(0, len(embeddings), CHUNK):
      count = min(CHUNK, len(embeddings) - start)
      pad = lambda x: np.concatenate(
          [x[start:start + count], np.zeros((CHUNK - count,) + x.shape[1:], x.dtype)])
      out = gan_train.generate_images_jit(
          self._generator, self._variables, jnp.asarray(pad(z)), jnp.asarray(pad(embeddings)),
          jax.random.fold_in(rng, 1 + start))
      images.append(np.asarray(out)[:count])
    return np.concatenate(images)
