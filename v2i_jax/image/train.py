"""Conditional DC-GAN training: one state value, one jitted D-then-G step, a loop that survives.

Batches are dicts of host arrays: ``image`` float32 [B, 64, 64, 3] in [-1, 1], ``embedding`` and
``wrong_embedding`` float32 [B, E] (the caption of the image and a real caption of another image).
The loss is Reed et al.'s matching-aware GAN-CLS, from logits:

  L_D = BCE(D(real, right), 1) + 0.5 * [BCE(D(real, wrong), 0) + BCE(D(fake, right), 0)]
  L_G = BCE(D(fake, right), 1)  [+ BCE(D(G(z', interpolated), interpolated), 1) with GAN-INT]
                                [+ kl_weight * KL with conditioning augmentation]

With ``config.d_classes > 0`` D also has Odena et al.'s auxiliary classifier (AC-GAN) on its
image features, and batches carry ``label`` int32 [B] (the image's class: for the emoji set its
keyword, or "other"): L_D += w * CE(C(real), label) and L_G += w * CE(C(fake), label), w =
``config.class_loss_weight``; the fake is drawn from the real image's own caption, so it shares
the label. Only real images teach the classifier.

With ``config.l1_weight > 0`` G also pays Isola et al.'s (pix2pix) reconstruction term,
w * mean |G(z, right) - real|: the fake is drawn from the real image's own caption, so the real
image is a target for it (it pulls G towards the caption's images and away from z's variety).
``config.l1_resolution`` < 64 compares box-averaged images (layout and colour; D judges the
detail). ``config.l1_samples`` = k > 1: each of the first rows (``config.l1_samples_fraction``
of the batch) trains on the nearest of k draws of z to its real image, chosen by a pass of G that
is not differentiated (best-of-k / IMLE-like), so z spreads over the caption's artworks.

The step runs G forward once, updates D on the detached fakes, then back-propagates G's loss
through the updated D into the saved G forward pass (``jax.vjp``), like the reference DC-GAN.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Mapping

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from v2i_jax.image import augment as augment_lib
from v2i_jax.image import models
from v2i_jax.training import checkpoint as checkpoint_lib
from v2i_jax.training import loop as loop_lib
from v2i_jax.training import mesh as mesh_lib

Batch = Mapping[str, np.ndarray]
BATCH_KEYS = ("image", "embedding", "wrong_embedding")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# Config fields that fix the shapes of the saved parameters; a checkpoint must match them.
ARCHITECTURE_FIELDS = ("embedding_dim", "z_dim", "width", "conditioning", "augmentation_features",
                       "d_norm", "d_joint", "d_classes", "d_projection", "g_conditional_bn")
# Config fields added after checkpoints were first written, with the behaviour they had before
# they existed; :func:`upgrade_config` fills them into configs restored from older checkpoints.
LATER_FIELDS = {"d_norm": "batch", "d_joint": False, "keyword_repeats": 1, "d_classes": 0,
                "class_loss_weight": 1.0, "d_projection": False, "d_learning_rate": -1.0,
                "l1_weight": 0.0, "loss": "bce", "diff_augment": (), "mode_seeking_weight": 0.0,
                "l1_samples": 1, "l1_samples_fraction": 0.25, "g_conditional_bn": False,
                "l1_resolution": 64}
LOSSES = ("bce", "hinge")


def upgrade_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of ``config`` with any missing :data:`LATER_FIELDS` set to their old behaviour."""
  config = ml_collections.ConfigDict(config.to_dict())
  for field, value in LATER_FIELDS.items():
    if field not in config:
      config[field] = value
  return config


class GANConfigError(ValueError):
  """A config value the GAN cannot train with; the message names the field and a valid value."""


class GANDataError(ValueError):
  """Batches that do not have the shapes the config promises."""


class RetraceError(RuntimeError):
  """The train step was traced a second time (a shape, dtype or sharding changed between steps)."""


@flax.struct.dataclass
class GANState:
  """Everything training changes, as one pytree; the modules and optimisers are static."""
  step: jax.Array
  g_params: Any
  g_batch_stats: Any
  d_params: Any
  d_batch_stats: Any
  g_opt_state: Any
  d_opt_state: Any
  g_ema_params: Any  # None unless config.g_ema_decay > 0.
  generator: models.Generator = flax.struct.field(pytree_node=False)
  discriminator: models.Discriminator = flax.struct.field(pytree_node=False)
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  def generator_variables(self) -> dict[str, Any]:
    """G's variables for sampling: the EMA weights when kept, else the trained ones."""
    params = self.g_params if self.g_ema_params is None else self.g_ema_params
    return {"params": params, "batch_stats": self.g_batch_stats}


def check_config(config: ml_collections.ConfigDict) -> None:
  """Raises :class:`GANConfigError` for values the model or loop cannot use."""
  def need(ok: bool, message: str) -> None:
    if not ok:
      raise GANConfigError(message)
  need(config.conditioning in models.CONDITIONINGS,
       f"config.conditioning={config.conditioning!r}; use one of {models.CONDITIONINGS}.")
  need(config.d_norm in models.D_NORMS,
       f"config.d_norm={config.d_norm!r}; use one of {models.D_NORMS}.")
  need(config.dtype in DTYPES, f"config.dtype={config.dtype!r}; use one of {tuple(DTYPES)}.")
  for field in ("embedding_dim", "z_dim", "batch_size", "log_every", "sample_every",
                "checkpoint_every", "keep_checkpoints", "samples_per_caption"):
    need(int(config[field]) > 0, f"config.{field}={config[field]!r}; it must be a positive int.")
  need(int(config.d_classes) >= 0,
       f"config.d_classes={config.d_classes!r}; use 0 (no classifier head) or the number of "
       "classes (36 for the emoji set: 35 keywords + other).")
  need(config.class_loss_weight >= 0,
       f"config.class_loss_weight={config.class_loss_weight!r}; use a non-negative weight.")
  need(config.l1_weight >= 0,
       f"config.l1_weight={config.l1_weight!r}; use 0 (off, the paper) or a positive weight.")
  need(int(config.l1_samples) >= 1,
       f"config.l1_samples={config.l1_samples!r}; use 1 (plain L1) or more (min over samples).")
  need(0.0 < config.l1_samples_fraction <= 1.0,
       f"config.l1_samples_fraction={config.l1_samples_fraction!r}; use a share of the batch in "
       "(0, 1].")
  need(int(config.l1_resolution) in (1, 2, 4, 8, 16, 32, 64),
       f"config.l1_resolution={config.l1_resolution!r}; use a power of 2 from 1 to 64 (64 = "
       "full resolution).")
  need(config.loss in LOSSES, f"config.loss={config.loss!r}; use one of {LOSSES}.")
  try:
    augment_lib.check_policy(config.diff_augment)
  except ValueError as e:
    raise GANConfigError(f"config.diff_augment={tuple(config.diff_augment)!r}: {e}") from None
  need(config.mode_seeking_weight >= 0,
       f"config.mode_seeking_weight={config.mode_seeking_weight!r}; use 0 (off) or a positive "
       "weight, e.g. 1.0.")
  need(int(config.keyword_repeats) >= 1,
       f"config.keyword_repeats={config.keyword_repeats!r}; use 1 (no oversampling) or more.")
  need(config.width > 0, f"config.width={config.width!r}; use a positive multiplier (1.0 = paper).")
  need(0.0 <= config.g_ema_decay < 1.0,
       f"config.g_ema_decay={config.g_ema_decay!r}; use 0 (off) or a decay in (0, 1), e.g. 0.999.")
  need(config.num_train_steps > 0 or config.num_epochs > 0,
       "set config.num_train_steps or config.num_epochs to a positive number.")


def make_models(config: ml_collections.ConfigDict
                ) -> tuple[models.Generator, models.Discriminator]:
  dtype = DTYPES[config.dtype]
  generator = models.Generator(
      width=config.width, conditioning=config.conditioning, noise_std=config.noise_std,
      augmentation_features=config.augmentation_features,
      conditional_bn=config.g_conditional_bn, fast=config.fast_layers, dtype=dtype)
  discriminator = models.Discriminator(width=config.width, norm=config.d_norm,
                                       joint=config.d_joint, num_classes=int(config.d_classes),
                                       projection=config.d_projection,
                                       fast=config.fast_layers, dtype=dtype)
  return generator, discriminator


def create_train_state(rng: jax.Array, config: ml_collections.ConfigDict) -> GANState:
  """Fresh G and D (DC-GAN init), Adam(lr, beta1, beta2) for each, step 0."""
  check_config(config)
  generator, discriminator = make_models(config)
  make_tx = lambda lr: optax.adam(lr, b1=config.beta1, b2=config.beta2)
  d_lr = config.d_learning_rate if config.d_learning_rate > 0 else config.learning_rate
  g_tx, d_tx = make_tx(config.learning_rate), make_tx(d_lr)

  # One jitted init: op-by-op initialisation compiles every small op on its own (slow on CPU).
  @jax.jit
  def init(rng):
    g_rng, d_rng, cond_rng = jax.random.split(rng, 3)
    z = jnp.zeros((1, config.z_dim))
    embedding = jnp.zeros((1, config.embedding_dim))
    image = jnp.zeros((1, models.IMAGE_SIZE, models.IMAGE_SIZE, 3))
    g_vars = generator.init({"params": g_rng, "conditioning": cond_rng}, z, embedding,
                            train=False)
    d_vars = discriminator.init(d_rng, image, embedding, train=False)
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_vars["params"], g_batch_stats=g_vars["batch_stats"],
        # D without batch norm has no batch statistics: an empty dict keeps the structure.
        d_params=d_vars["params"], d_batch_stats=d_vars.get("batch_stats", {}),
        g_opt_state=g_tx.init(g_vars["params"]), d_opt_state=d_tx.init(d_vars["params"]),
        g_ema_params=g_vars["params"] if config.g_ema_decay > 0 else None,
        generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx)

  return init(rng)


def _interleave(*xs: jax.Array) -> jax.Array:
  """Row i of x_k goes to row len(xs) * i + k: each device's slice stays whole when sharded."""
  return jnp.stack(xs, axis=1).reshape((-1,) + xs[0].shape[1:])


def _deinterleave(x: jax.Array, n: int) -> tuple[jax.Array, ...]:
  x = x.reshape((-1, n) + x.shape[1:])
  return tuple(x[:, k] for k in range(n))


def _discriminate(discriminator: models.Discriminator, params: Any, batch_stats: Any,
                  images: tuple[jax.Array, ...], pairs: tuple[tuple[int, jax.Array], ...],
                  fused: bool, classify: bool = False
                  ) -> tuple[tuple[jax.Array, ...], Any, jax.Array | None]:
  """D's logits for each (index into ``images``, embeddings) pair, in training mode, D's new
  batch stats, and (``classify``) the classifier head's logits for ``images[0]`` (the batch
  whose labels the step knows: the real images in D's loss, the fakes in G's).

  Fused: one trunk pass over all image batches (each with its own BN statistics, so the same
  maths as separate calls) and one head pass over all pairs. Unfused: one full D call per pair,
  as the straightforward code would write it (and one more trunk pass for the classifier).
  """
  if not fused:
    logits, stats = [], batch_stats
    for index, embeddings in pairs:
      out, updates = discriminator.apply(
          {"params": params, "batch_stats": stats}, images[index], embeddings, train=True,
          mutable=["batch_stats"])
      logits.append(out)
      stats = updates.get("batch_stats", stats)
    classes = None
    if classify:
      classes, _ = discriminator.apply(
          {"params": params, "batch_stats": stats}, images[0],
          method=lambda d, x: d.classify(d.features(x, train=True)), mutable=["batch_stats"])
    return tuple(logits), stats, classes
  features, updates = discriminator.apply(
      {"params": params, "batch_stats": batch_stats}, _interleave(*images), train=True,
      groups=len(images), method=models.Discriminator.features, mutable=["batch_stats"])
  features = _deinterleave(features, len(images))
  logits = discriminator.apply(
      {"params": params}, _interleave(*(features[i] for i, _ in pairs)),
      _interleave(*(e for _, e in pairs)), method=models.Discriminator.score)
  classes = None
  if classify:
    classes = discriminator.apply({"params": params}, features[0],
                                  method=models.Discriminator.classify)
  return _deinterleave(logits, len(pairs)), updates.get("batch_stats", batch_stats), classes


def _bce(logits: jax.Array, label: float) -> jax.Array:
  return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)).mean()


def _d_adversarial(config, l_real, l_wrong, l_fake) -> jax.Array:
  """D's matching-aware loss: real/right up, real/wrong and fake/right down (half weight each)."""
  if config.loss == "hinge":
    hinge = lambda l, sign: jax.nn.relu(1.0 - sign * l).mean()
    return hinge(l_real, 1.0) + 0.5 * (hinge(l_wrong, -1.0) + hinge(l_fake, -1.0))
  return _bce(l_real, 1.0) + 0.5 * (_bce(l_wrong, 0.0) + _bce(l_fake, 0.0))


def _g_adversarial(config, logits) -> jax.Array:
  return -logits.mean() if config.loss == "hinge" else _bce(logits, 1.0)


def _class_ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def train_step(state: GANState, batch: Batch, base_rng: jax.Array,
               config: ml_collections.ConfigDict) -> tuple[GANState, dict[str, jax.Array]]:
  """One D update then one G update. Pure; :func:`make_train_step` jits it."""
  rng = jax.random.fold_in(base_rng, state.step)
  z_rng, cond_rng, z_int_rng = jax.random.split(rng, 3)
  # Folded in, not split off: runs without these options keep the draws they always had.
  aug_rng, ms_rng = jax.random.fold_in(rng, 1000), jax.random.fold_in(rng, 1001)
  policy = tuple(config.diff_augment)
  d_real_aug_rng, d_fake_aug_rng, g_aug_rng = jax.random.split(aug_rng, 3)
  augment = lambda x, key: augment_lib.diff_augment(x, key, policy) if policy else x
  real, right, wrong = batch["image"], batch["embedding"], batch["wrong_embedding"]
  ms_rows = real.shape[0] // 4 if config.mode_seeking_weight > 0 else 0
  extra_l1 = int(config.l1_samples) - 1 if config.l1_weight > 0 else 0
  l1_rows = int(round(real.shape[0] * config.l1_samples_fraction)) if extra_l1 else 0
  n = real.shape[0]
  interpolated = config.gan_int_beta * right + (1.0 - config.gan_int_beta) * wrong
  fused = config.fuse_discriminator_passes
  classify = int(config.d_classes) > 0
  labels = batch["label"] if classify else None
  class_weight = config.class_loss_weight

  z = jax.random.normal(z_rng, (n, config.z_dim))
  z_ms = jax.random.normal(ms_rng, (ms_rows, config.z_dim))
  z_l1 = jax.random.normal(jax.random.fold_in(rng, 1002), (l1_rows * extra_l1, config.z_dim))
  l1_view = lambda images: augment_lib.box_downsample(images, int(config.l1_resolution))
  if l1_rows:
    # Best of l1_samples (IMLE-like): for each of the first rows, the latent vector (its own z or
    # one of the extra draws) whose picture is nearest its real image, found by a pass of G
    # that is not differentiated; the row is then trained on that z. Each real image pulls only
    # the nearest of its caption's samples, so z's samples spread over the caption's artworks
    # instead of averaging them into one blur.
    k = extra_l1 + 1
    candidates = jnp.concatenate(
        [z[:l1_rows, None], z_l1.reshape(l1_rows, extra_l1, config.z_dim)], axis=1)
    (pictures, _), _ = state.generator.apply(
        {"params": jax.lax.stop_gradient(state.g_params), "batch_stats": state.g_batch_stats},
        candidates.reshape(l1_rows * k, config.z_dim), jnp.repeat(right[:l1_rows], k, axis=0),
        train=True, rngs={"conditioning": jax.random.fold_in(cond_rng, 3)},
        mutable=["batch_stats"])
    pictures = l1_view(pictures)
    distances = jnp.abs(pictures.reshape((l1_rows, k) + pictures.shape[1:])
                        - l1_view(real[:l1_rows])[:, None]).mean(axis=(2, 3, 4))
    nearest = candidates[jnp.arange(l1_rows), distances.argmin(axis=1)]
    z = z.at[:l1_rows].set(jax.lax.stop_gradient(nearest))

  def generate(g_params):
    """G's outputs (fakes, interpolated-caption fakes, KL) with G's batch stats as aux."""
    variables = {"params": g_params, "batch_stats": state.g_batch_stats}
    (fake, kl), updates = state.generator.apply(
        variables, z, right, train=True, rngs={"conditioning": cond_rng},
        mutable=["batch_stats"])
    outputs = {"fake": fake, "kl": kl}
    if ms_rows:
      # A second latent vector for the first rows' captions (MSGAN), in G's training mode.
      (outputs["fake_ms"], _), updates = state.generator.apply(
          {"params": g_params, **updates}, z_ms, right[:ms_rows], train=True,
          rngs={"conditioning": jax.random.fold_in(cond_rng, 2)}, mutable=["batch_stats"])
    if config.gan_int:
      z_int = jax.random.normal(z_int_rng, (n, config.z_dim))
      (outputs["fake_int"], kl_int), updates = state.generator.apply(
          {"params": g_params, **updates}, z_int, interpolated, train=True,
          rngs={"conditioning": jax.random.fold_in(cond_rng, 1)}, mutable=["batch_stats"])
      outputs["kl"] = 0.5 * (kl + kl_int)
    return outputs, updates["batch_stats"]

  g_outputs, g_vjp, g_batch_stats = jax.vjp(generate, state.g_params, has_aux=True)
  fake = jax.lax.stop_gradient(g_outputs["fake"])

  def d_loss_fn(d_params):
    (l_real, l_wrong, l_fake), stats, classes = _discriminate(
        state.discriminator, d_params, state.d_batch_stats,
        (augment(real, d_real_aug_rng), augment(fake, d_fake_aug_rng)),
        ((0, right), (0, wrong), (1, right)), fused, classify)
    loss = _d_adversarial(config, l_real, l_wrong, l_fake)
    class_metrics = {}
    if classify:
      d_class = _class_ce(classes, labels)
      loss = loss + class_weight * d_class
      class_metrics = {"d_class": d_class,
                       "real_class_acc": (classes.argmax(-1) == labels).mean()}
    return loss, (stats, l_real, l_wrong, l_fake, class_metrics)

  (d_loss, (d_batch_stats, l_real, l_wrong, l_fake, class_metrics)), d_grads = jax.value_and_grad(
      d_loss_fn, has_aux=True)(state.d_params)
  d_updates, d_opt_state = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
  d_params = optax.apply_updates(state.d_params, d_updates)

  def g_adversarial_loss(outputs):
    images, pairs = (augment(outputs["fake"], g_aug_rng),), ((0, right),)
    if config.gan_int:
      images += (augment(outputs["fake_int"], jax.random.fold_in(g_aug_rng, 1)),)
      pairs += ((1, interpolated),)
    # D's batch stats from this pass are dropped: D only ever runs in training mode.
    logits, _, classes = _discriminate(state.discriminator, d_params, d_batch_stats, images,
                                       pairs, fused, classify)
    loss = sum(_g_adversarial(config, l) for l in logits)
    aux = {}
    if ms_rows:
      aux["g_mode_seeking"] = augment_lib.mode_seeking_loss(
          outputs["fake"][:ms_rows], outputs["fake_ms"], z[:ms_rows], z_ms)
      loss = loss + config.mode_seeking_weight * aux["g_mode_seeking"]
    if config.l1_weight > 0 and l1_rows:  # The first rows' z were chosen for it (above).
      aux["g_l1"] = jnp.abs(l1_view(outputs["fake"][:l1_rows]) - l1_view(real[:l1_rows])).mean()
      loss = loss + config.l1_weight * aux["g_l1"]
    elif config.l1_weight > 0:
      aux["g_l1"] = jnp.abs(l1_view(outputs["fake"]) - l1_view(real)).mean()
      loss = loss + config.l1_weight * aux["g_l1"]
    if classify:
      aux["g_class"] = _class_ce(classes, labels)
      aux["fake_class_acc"] = (classes.argmax(-1) == labels).mean()
      loss = loss + class_weight * aux["g_class"]
    return loss, aux

  (g_loss, g_aux_metrics), output_grads = jax.value_and_grad(
      g_adversarial_loss, has_aux=True)(g_outputs)
  output_grads["kl"] = jnp.asarray(config.augmentation_kl_weight, jnp.float32)
  (g_grads,) = g_vjp(output_grads)
  g_updates, g_opt_state = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, g_updates)
  g_ema_params = state.g_ema_params
  if g_ema_params is not None:
    g_ema_params = optax.incremental_update(g_params, g_ema_params, 1.0 - config.g_ema_decay)

  new_state = state.replace(
      step=state.step + 1, g_params=g_params, g_batch_stats=g_batch_stats, d_params=d_params,
      d_batch_stats=d_batch_stats, g_opt_state=g_opt_state, d_opt_state=d_opt_state,
      g_ema_params=g_ema_params)
  metrics = {
      "d_loss": d_loss,
      "g_loss": g_loss + config.augmentation_kl_weight * g_outputs["kl"],
      "d_real": jax.nn.sigmoid(l_real).mean(),
      "d_wrong": jax.nn.sigmoid(l_wrong).mean(),
      "d_fake": jax.nn.sigmoid(l_fake).mean(),
      "kl": g_outputs["kl"],
      **class_metrics, **g_aux_metrics,
  }
  return new_state, metrics


class CompiledStep:
  """The jitted :func:`train_step` over a mesh: state replicated and donated, batch sharded on
  its leading axis. Calling it a second time with different shapes raises :class:`RetraceError`
  instead of silently compiling again."""

  def __init__(self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh):
    self.traces = 0

    def counted_step(state, batch, base_rng):
      self.traces += 1
      if self.traces > 1:
        raise RetraceError(
            "the GAN train step is being compiled a second time: every batch must have the same "
            "shapes and dtypes (config.batch_size x 64 x 64 x 3 float32 images, [B, "
            "config.embedding_dim] float32 embeddings) and the state must keep its structure.")
      return train_step(state, batch, base_rng, config)

    replicated = mesh_lib.replicated_sharding(mesh)
    self._jitted = jax.jit(
        counted_step, in_shardings=(replicated, mesh_lib.batch_sharding(mesh), replicated),
        out_shardings=(replicated, replicated), donate_argnums=(0,))

  def __call__(self, state: GANState, batch: Batch, base_rng: jax.Array
               ) -> tuple[GANState, dict[str, jax.Array]]:
    return self._jitted(state, batch, base_rng)

  def lower(self, state: GANState, batch: Batch, base_rng: jax.Array):
    return self._jitted.lower(state, batch, base_rng)


def generate_images(generator: models.Generator, variables: Any, z: jax.Array,
                    embeddings: jax.Array, rng: jax.Array) -> jax.Array:
  """G in inference mode (running BN statistics): [N, 64, 64, 3] uint8."""
  images, _ = generator.apply(variables, z, embeddings, train=False, rngs={"conditioning": rng})
  return jnp.round((images + 1.0) * 127.5).clip(0, 255).astype(jnp.uint8)


generate_images_jit = jax.jit(generate_images, static_argnums=0)


def image_grid(images: np.ndarray, row_labels: Iterable[str] | None = None) -> np.ndarray:
  """[rows, cols, H, W, 3] uint8 -> one HWC uint8 image with 2-px gaps and optional row labels."""
  rows, cols, h, w, _ = images.shape
  gap = 2
  label_width = 0 if row_labels is None else 72
  grid = np.full((rows * (h + gap) + gap, label_width + cols * (w + gap) + gap, 3), 255, np.uint8)
  for r in range(rows):
    for c in range(cols):
      y, x = gap + r * (h + gap), label_width + gap + c * (w + gap)
      grid[y:y + h, x:x + w] = images[r, c]
  if row_labels is not None:
    from PIL import Image, ImageDraw
    picture = Image.fromarray(grid)
    draw = ImageDraw.Draw(picture)
    for r, label in enumerate(row_labels):
      draw.text((3, gap + r * (h + gap) + h // 2 - 6), str(label)[:11], fill=(0, 0, 0))
    grid = np.asarray(picture)
  return grid


def save_png(path: str, image_hwc_uint8: np.ndarray) -> None:
  from PIL import Image
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(image_hwc_uint8).save(path)


def plot_loss_curves(workdir: str) -> str | None:
  """``workdir/loss_curves.png`` from ``metrics.jsonl``: the losses and D's mean outputs."""
  rows = loop_lib.read_metrics(workdir)
  if not rows:
    return None
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  steps = [r["step"] for r in rows]
  fig, (ax_loss, ax_prob) = plt.subplots(1, 2, figsize=(11, 4))
  for key in ("d_loss", "g_loss"):
    ax_loss.plot(steps, [r.get(key, np.nan) for r in rows], label=key)
  for key in ("d_real", "d_wrong", "d_fake"):
    ax_prob.plot(steps, [r.get(key, np.nan) for r in rows], label=f"mean {key}")
  ax_loss.set(xlabel="step", ylabel="loss", title="GAN-CLS losses")
  ax_prob.set(xlabel="step", ylabel="sigmoid(D)", title="D on real/right, real/wrong, fake",
              ylim=(0, 1))
  ax_loss.legend()
  ax_prob.legend()
  fig.tight_layout()
  path = os.path.join(workdir, "loss_curves.png")
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def checkpoint_meta(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """What a restorer checks: the word vectors the captions were embedded with, the model shape."""
  return {
      "embedding_source": config.embedding_source,
      "embedding_dim": int(config.embedding_dim),
      "architecture": {f: config[f] for f in ARCHITECTURE_FIELDS},
      "config": config.to_dict(),
  }


def check_resumable(saved: Mapping[str, Any], config: ml_collections.ConfigDict,
                    directory: str) -> None:
  """Raises :class:`checkpoint_lib.CheckpointError` if ``directory`` holds another model."""
  current = checkpoint_meta(config)
  saved = dict(saved)
  if isinstance(saved.get("architecture"), dict):  # Older checkpoints lack LATER_FIELDS.
    saved["architecture"] = {**{f: v for f, v in LATER_FIELDS.items() if f in ARCHITECTURE_FIELDS},
                             **saved["architecture"]}
  for key in ("embedding_source", "architecture"):
    if saved.get(key) != current[key]:
      fix = "use a new --workdir or the config that wrote it"
      if key == "architecture" and isinstance(saved.get(key), dict):
        differ = [f for f in ARCHITECTURE_FIELDS if saved[key].get(f) != current[key][f]]
        fix += " (to resume it: " + " ".join(
            f"--config.{f}={saved[key].get(f)!r}" for f in differ) + ")"
      raise checkpoint_lib.CheckpointError(
          f"{directory} holds a GAN with {key}={saved.get(key)!r} but the config asks for "
          f"{current[key]!r}; {fix}.")


def batch_keys(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The batch entries the train step reads: :data:`BATCH_KEYS`, plus 'label' with a classifier."""
  return BATCH_KEYS + (("label",) if int(config.d_classes) > 0 else ())


def check_batch(batch: Batch, config: ml_collections.ConfigDict) -> None:
  """Shapes of this process's rows of a batch (all of it with one process)."""
  rows = config.batch_size // jax.process_count()
  expected = {
      "image": (rows, models.IMAGE_SIZE, models.IMAGE_SIZE, 3),
      "embedding": (rows, config.embedding_dim),
      "wrong_embedding": (rows, config.embedding_dim),
  }
  if int(config.d_classes) > 0:
    expected["label"] = (rows,)
  for key, shape in expected.items():
    if key not in batch:
      raise GANDataError(f"the batch has no {key!r}; it needs keys {sorted(expected)}.")
    got = np.shape(batch[key])
    if got != shape:
      raise GANDataError(
          f"batch[{key!r}] has shape {got}, expected {shape} from config.batch_size="
          f"{config.batch_size} over {jax.process_count()} process(es) and "
          f"config.embedding_dim={config.embedding_dim}; make the data pipeline and the config "
          "agree (embedding_dim is 2 x the word-vector size).")
  if "label" in expected:
    labels = np.asarray(batch["label"])
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or (
        labels.max() >= config.d_classes):
      raise GANDataError(
          f"batch['label'] must hold class ids in 0 .. config.d_classes - 1 = "
          f"{config.d_classes - 1}; got {labels.dtype} values {labels.min()} .. {labels.max()}.")


def synthetic_batches(config: ml_collections.ConfigDict, seed: int = 0) -> Iterator[dict]:
  """Endless random batches with the pipeline's shapes, for tests and benchmarks."""
  rng = np.random.default_rng(seed)
  b, e = config.batch_size, config.embedding_dim
  while True:
    yield {
        "image": rng.uniform(-1, 1, (b, models.IMAGE_SIZE, models.IMAGE_SIZE, 3)).astype(np.float32),
        "embedding": rng.normal(size=(b, e)).astype(np.float32),
        "wrong_embedding": rng.normal(size=(b, e)).astype(np.float32),
        **({"label": rng.integers(0, config.d_classes, b).astype(np.int32)}
           if int(config.d_classes) > 0 else {}),
    }


def total_steps(config: ml_collections.ConfigDict, steps_per_epoch: int | None) -> int:
  if config.num_train_steps > 0:
    return int(config.num_train_steps)
  if not steps_per_epoch:
    raise GANConfigError(
        f"config.num_epochs={config.num_epochs} needs the data set's steps per epoch; pass "
        "steps_per_epoch or set config.num_train_steps.")
  return int(config.num_epochs * steps_per_epoch)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       batches: Iterable[Batch] | Callable[[int], Iterator[Batch]] | None = None,
                       sample_embeddings: np.ndarray | None = None,
                       sample_captions: list[str] | None = None,
                       steps_per_epoch: int | None = None,
                       restore_step: int | None = None) -> GANState:
  """Trains (or resumes) the GAN in ``workdir`` and returns the final state.

  ``restore_step``: resume from this checkpoint step instead of the newest verified one (a
  rollback: the newer steps are deleted at the first save).

  ``batches``: host batch dicts (see module doc; other keys are ignored; with several processes,
  this process's rows of each global batch of config.batch_size) for the whole run,
  either an iterable or a function ``start_step -> iterator`` (so a resumed run continues the
  data order); None builds the caption-embedding pipeline from the config
  (:func:`default_batches`).
  ``sample_embeddings`` [K, E] with ``sample_captions`` (K names): the fixed captions of the
  sample grids; None takes the first K = len(config.sample_captions) embeddings of the first batch.
  Writes ``checkpoints/`` (auto-resumed), ``tensorboard/``, ``metrics.jsonl``,
  ``samples/step_XXXXXX.png`` (rows = captions, columns = fixed z) and ``loss_curves.png``;
  with several processes, process 0 writes all but the checkpoints, which all save together.
  """
  check_config(config)
  if batches is None:
    batches, sample_embeddings, sample_captions, steps_per_epoch = default_batches(config)
  num_steps = total_steps(config, steps_per_epoch)
  mesh = mesh_lib.make_mesh()
  mesh_lib.check_batch_size(config.batch_size, mesh)
  init_rng, step_rng, sample_rng = jax.random.split(jax.random.PRNGKey(config.seed), 3)
  state = mesh_lib.replicate(create_train_state(init_rng, config), mesh)
  checkpoints = checkpoint_lib.Checkpointer(
      os.path.join(workdir, "checkpoints"), max_to_keep=config.keep_checkpoints)
  meta = checkpoint_meta(config)
  last_good_step = checkpoints.latest_step()
  abstract = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
  start = 0
  if last_good_step is None:
    checkpoint_lib.check_restore_step(checkpoints, restore_step)
  else:
    check_resumable(checkpoints.restore_meta(restore_step), config, checkpoints.directory)
    start, state, _ = checkpoints.restore(state, restore_step)
    if restore_step is not None:
      checkpoints.drop_newer_than(restore_step)
    last_good_step = start
  resumed_at = last_good_step
  step_fn = CompiledStep(config, mesh)
  step_rng = mesh_lib.replicate(step_rng, mesh)
  primary = jax.process_index() == 0
  writer = loop_lib.MetricWriter(workdir, enabled=primary, start_step=start)
  batch_iter = batches(start) if callable(batches) else iter(batches)
  fixed_z = jax.random.normal(jax.random.fold_in(sample_rng, 0),
                              (config.samples_per_caption, config.z_dim))

  def write_samples(step: int) -> None:
    k, n = sample_embeddings.shape[0], config.samples_per_caption
    # This process's copy of G: sampling involves no other process.
    images = generate_images_jit(
        state.generator, mesh_lib.local_replica(state.generator_variables()),
        jnp.tile(fixed_z, (k, 1)),
        jnp.repeat(jnp.asarray(sample_embeddings, jnp.float32), n, axis=0),
        jax.random.fold_in(sample_rng, 1))
    grid = image_grid(np.asarray(images).reshape(k, n, *images.shape[1:]), sample_captions)
    save_png(os.path.join(workdir, "samples", f"step_{step:06d}.png"), grid)
    writer.image(step, "samples", grid)

  def earlier_step() -> int | None:
    return checkpoints.newest_verified(abstract, resumed_at)

  pending = []
  bar = loop_lib.progress(num_steps, start, desc="gan")
  try:
    for step in range(start, num_steps):
      try:
        batch = next(batch_iter)
      except StopIteration:
        raise GANDataError(f"the batches ran out after {step - start} steps of {num_steps}; "
                           "pass an iterator that repeats (e.g. tf.data .repeat()).") from None
      batch = {key: batch[key] for key in batch_keys(config)}
      if step == start:
        check_batch(batch, config)
        if sample_embeddings is None:
          sample_embeddings = np.asarray(batch["embedding"][:len(config.sample_captions)])
          sample_captions = [f"batch[{i}]" for i in range(len(sample_embeddings))]
      state, metrics = step_fn(state, mesh_lib.shard_batch(batch, mesh), step_rng)
      pending.append(metrics)
      done = step + 1
      bar.update(1)
      if done % config.log_every == 0 or done == num_steps:
        means = {k: float(np.mean([m[k] for m in jax.device_get(pending)])) for k in pending[0]}
        pending = []
        loop_lib.check_finite(means, done, last_good_step, workdir, resumed_at=resumed_at,
                              earlier_step=earlier_step)
        writer.scalars(done, means)
        bar.set_postfix(d=f"{means['d_loss']:.3f}", g=f"{means['g_loss']:.3f}")
      if primary and (done % config.sample_every == 0 or done == num_steps):
        write_samples(done)
      if done % config.checkpoint_every == 0 or done == num_steps:
        # Never save a state that came out of a non-finite step.
        loop_lib.check_finite(jax.device_get(metrics), done, last_good_step, workdir,
                              resumed_at=resumed_at, earlier_step=earlier_step)
        checkpoints.save(done, state, meta)
        last_good_step = done
        if primary:
          plot_loss_curves(workdir)
  finally:
    bar.close()
    writer.close()
    checkpoints.close()
  return state


def default_batches(config: ml_collections.ConfigDict):
  """The caption-embedding pipeline the config names: ``(batches(start_step) -> iterator,
  sample embeddings [K, E] of config.sample_captions, those captions, steps per epoch)``.

  Data: ``config.dataset`` ("emoji", built from installed packages with ``config.image_data``,
  or "flickr30k" / "cub" / "oxford102" / a folder, read from ``config.manual_dir``); captions
  embedded with ``config.vectors`` (a :func:`v2i_jax.text.vectors.parse_source` string), whose
  id must be ``config.embedding_source``. Imports the data modules only when called.
  """
  from v2i_jax.image import data as data_lib
  from v2i_jax.text import captions as captions_lib
  from v2i_jax.text import gan_input as gan_input_lib
  from v2i_jax.text import vectors as vectors_lib
  keyword_classes = len(data_lib.KEYWORDS) + 1
  if int(config.d_classes) > 0 and (config.dataset != "emoji"
                                    or int(config.d_classes) != keyword_classes):
    raise GANConfigError(
        f"config.d_classes={config.d_classes} with config.dataset={config.dataset!r}: the "
        f"classifier head needs the emoji data set's {keyword_classes} classes (its "
        f"{len(data_lib.KEYWORDS)} keywords + other); set d_classes={keyword_classes} with the "
        "emoji set, or 0.")
  spec = vectors_lib.parse_source(config.vectors)
  if vectors_lib.source_id(spec) != config.embedding_source:
    raise GANConfigError(
        f"config.vectors={config.vectors!r} are {vectors_lib.source_id(spec)!r} but "
        f"config.embedding_source={config.embedding_source!r}; set embedding_source to the "
        "vectors' id so checkpoints name them correctly.")
  data = data_lib.load_caption_dataset(
      config.dataset, "train", config=config.image_data, manual_dir=config.manual_dir or None)
  embeddings = gan_input_lib.embed_dataset(data, spec, cache_dir=config.embedding_cache_dir)
  if embeddings.embedding_dim != config.embedding_dim:
    raise GANConfigError(
        f"the captions embed to {embeddings.embedding_dim}-d but config.embedding_dim="
        f"{config.embedding_dim}; set it to {embeddings.embedding_dim} (2 x the vector size).")
  repeats = None
  if config.keyword_repeats != 1:
    if config.dataset != "emoji":
      raise GANConfigError(
          f"config.keyword_repeats={config.keyword_repeats} needs the emoji data set's keyword "
          f"classes but config.dataset={config.dataset!r}; set keyword_repeats=1.")
    is_keyword = np.asarray(data.class_ids) < len(data_lib.KEYWORDS)
    repeats = np.where(is_keyword, int(config.keyword_repeats), 1)
  pipeline = gan_input_lib.GanInput(data, embeddings, batch_size=config.batch_size,
                                    seed=config.seed, process_index=jax.process_index(),
                                    process_count=jax.process_count(), repeats=repeats)
  captions = list(config.sample_captions)
  sample_embeddings = captions_lib.embed_captions(captions, vectors_lib.load_vectors(spec))
  batches = pipeline.batches
  if int(config.d_classes) > 0:
    # Keyword images are labelled with their keyword, every other emoji with "other".
    image_labels = np.minimum(np.asarray(data.class_ids), len(data_lib.KEYWORDS)).astype(np.int32)

    def batches(start_step: int = 0, num_steps: int | None = None):
      for batch in pipeline.batches(start_step, num_steps):
        yield {**batch, "label": image_labels[batch["image_index"]]}
  return batches, sample_embeddings, captions, pipeline.steps_per_epoch
