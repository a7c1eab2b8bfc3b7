"""Keyword-classifier training: state, one jitted step over the device mesh, the resumable loop.

* :func:`create_train_state` builds params, batch-norm statistics and the optimiser (SGD,
  momentum or Adam on the triangular cyclic learning rate of :mod:`v2i_jax.training.schedules`).
* :func:`train_step` is pure: softmax cross-entropy + ``weight_decay * sum(kernel ** 2)`` (the
  paper's L2 term, ``lambda``), optional SpecAugment-style masking, and the update. The step's
  rng is ``fold_in(key(seed), step)``, so a resumed run draws the same numbers as an
  uninterrupted one (the batch order is a function of ``(seed, step)`` too).
* :func:`make_train_step` / :func:`make_eval_step` jit them over the mesh: batch sharded on its
  leading axis, state replicated and donated; each counts its traces so the loop can assert that
  it compiled once.
* :func:`train_and_evaluate` resumes from the workdir's newest checkpoint by itself, writes
  TensorBoard scalars, shows a progress bar, stops on NaN, and at the end writes the test-split
  confusion matrix (PNG) and a per-word accuracy table (markdown + JSON) into the workdir.
  Checkpoint meta holds the config, words, MFCC config and normalisation statistics, so
  :mod:`v2i_jax.speech.recognizer` restores a model without the data.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax.training import train_state

from v2i_jax.speech import dataset
from v2i_jax.speech import input_pipeline
from v2i_jax.speech import models
from v2i_jax.training import checkpoint
from v2i_jax.training import loop
from v2i_jax.training import mesh as mesh_lib
from v2i_jax.training import schedules

OPTIMIZERS = ("sgd", "momentum", "adam")
CHECKPOINT_DIR = "checkpoints"
RESULTS_FILE = "results.json"


class TrainState(train_state.TrainState):
  batch_stats: Any


class CompiledMoreThanOnceError(AssertionError):
  """A hot step was traced again (shape, dtype or sharding changed between calls)."""


def learning_rate_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
  s = config.schedule
  return schedules.triangular_cyclic_schedule(s.eta_min, s.eta_max, s.step_size, s.num_cycles)


def num_train_steps(config: ml_collections.ConfigDict) -> int:
  """``2 * n_s * l``: training ends with the last cycle, as in the paper."""
  return schedules.cyclic_total_steps(config.schedule.step_size, config.schedule.num_cycles)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  lr = learning_rate_schedule(config)
  if config.optimizer == "sgd":  # The paper's plain mini-batch gradient descent.
    return optax.sgd(lr)
  if config.optimizer == "momentum":
    return optax.sgd(lr, momentum=0.9, nesterov=True)
  if config.optimizer == "adam":
    return optax.adam(lr)
  raise ValueError(f"unknown optimizer {config.optimizer!r}; set config.optimizer to one of "
                   f"{OPTIMIZERS}.")


def create_train_state(rng: jax.Array, config: ml_collections.ConfigDict, num_classes: int,
                       feature_shape: tuple[int, int]) -> TrainState:
  """Fresh state for inputs ``[batch, *feature_shape]`` (``(frames, n_mfcc)``)."""
  model = models.build_model(config.model, num_classes)
  variables = jax.jit(lambda r: model.init(r, jnp.zeros((1,) + tuple(feature_shape)),
                                           train=False))(rng)
  return TrainState.create(apply_fn=model.apply, params=variables["params"],
                           batch_stats=variables["batch_stats"], tx=make_optimizer(config))


def abstract_train_state(config: ml_collections.ConfigDict, num_classes: int,
                         feature_shape: tuple[int, int],
                         sharding: jax.sharding.Sharding) -> TrainState:
  """The state's structure as ``ShapeDtypeStruct`` leaves placed by ``sharding``, without
  running (or compiling) the initialisers: the restore target when a checkpoint exists."""
  abstract = jax.eval_shape(
      lambda: create_train_state(jax.random.key(0), config, num_classes, feature_shape))
  return jax.tree_util.tree_map(
      lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), abstract)


def l2_penalty(params: Any) -> jax.Array:
  """Sum of squared weights of every dense/conv kernel (biases and batch norm are not decayed)."""
  leaves = jax.tree_util.tree_leaves_with_path(params)
  return sum(jnp.sum(jnp.square(w)) for path, w in leaves
             if getattr(path[-1], "key", None) == "kernel")


def augment(rng: jax.Array, x: jax.Array, config: ml_collections.ConfigDict) -> jax.Array:
  """Random time shift and one time + one coefficient mask per example (SpecAugment-like).

  Features are normalised, so 0 (the train mean) is what shifted-in and masked cells get.
  """
  a = config.augment
  batch, frames, coeffs = x.shape
  shift_rng, time_rng, freq_rng = jax.random.split(rng, 3)
  if a.time_shift_frames:
    shift = jax.random.randint(shift_rng, (batch, 1), -a.time_shift_frames,
                               a.time_shift_frames + 1)
    source = jnp.arange(frames)[None, :] - shift  # [batch, frames]
    inside = (source >= 0) & (source < frames)
    x = jnp.take_along_axis(x, jnp.clip(source, 0, frames - 1)[..., None], axis=1)
    x = jnp.where(inside[..., None], x, 0.0)

  def band_mask(key, size, max_width):
    width_key, start_key = jax.random.split(key)
    width = jax.random.randint(width_key, (batch, 1), 0, max_width + 1)
    start = jax.random.randint(start_key, (batch, 1), 0, size)
    index = jnp.arange(size)[None, :]
    return (index >= start) & (index < start + width)  # [batch, size]

  if a.time_mask_frames:
    x = jnp.where(band_mask(time_rng, frames, a.time_mask_frames)[:, :, None], 0.0, x)
  if a.freq_mask_coeffs:
    x = jnp.where(band_mask(freq_rng, coeffs, a.freq_mask_coeffs)[:, None, :], 0.0, x)
  return x


def mixup_pairs(rng: jax.Array, batch: int, alpha: float
                ) -> tuple[jax.Array, jax.Array] | None:
  """Mixup (Zhang et al. 2018): a weight ``lam ~ Beta(alpha, alpha)`` per example and a partner
  (a random permutation of the batch), or None when ``alpha`` is 0."""
  if not alpha:
    return None
  lam_rng, perm_rng = jax.random.split(rng)
  lam = jax.random.beta(lam_rng, alpha, alpha, (batch,))
  return lam, jax.random.permutation(perm_rng, batch)


def mix_examples(x: jax.Array, lam: jax.Array, partner: jax.Array) -> jax.Array:
  """``lam * x + (1 - lam) * x[partner]``, example by example."""
  lam = lam.reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype)
  return lam * x + (1.0 - lam) * x[partner]


def soft_targets(labels: jax.Array, num_classes: int, smoothing: float = 0.0,
                 mix: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
  """One-hot targets, smoothed (``1 - smoothing`` on the label, the rest spread evenly) and,
  with ``mix = (lam, partner)``, mixed like :func:`mix_examples` mixes the inputs."""
  targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), smoothing)
  if mix is None:
    return targets
  lam, partner = mix
  return lam[:, None] * targets + (1.0 - lam[:, None]) * targets[partner]


def train_step(state: TrainState, batch: dict[str, jax.Array], *,
               config: ml_collections.ConfigDict,
               schedule: optax.Schedule) -> tuple[TrainState, dict[str, jax.Array]]:
  """One update on ``batch = {'features' [B, T, C], 'label' [B]}``; returns metrics too."""
  rng = jax.random.fold_in(jax.random.key(config.seed), state.step)
  augment_rng, dropout_rng = jax.random.split(rng)
  features = augment(augment_rng, batch["features"], config)
  labels = batch["label"]
  smoothing = config.get("label_smoothing", 0.0)
  mix = mixup_pairs(jax.random.fold_in(augment_rng, 1), labels.shape[0],
                    config.augment.get("mixup_alpha", 0.0))
  if mix is not None:
    features = mix_examples(features, *mix)

  def loss_fn(params):
    logits, updates = state.apply_fn(
        {"params": params, "batch_stats": state.batch_stats}, features, train=True,
        mutable=["batch_stats"], rngs={"dropout": dropout_rng})
    # [members, batch, classes]: one member unless the model is a models.Ensemble.
    members = logits if logits.ndim == 3 else logits[None]
    if mix is None and not smoothing:
      per_example = optax.softmax_cross_entropy_with_integer_labels(
          members, jnp.broadcast_to(labels, members.shape[:-1]))
    else:
      targets = soft_targets(labels, members.shape[-1], smoothing, mix)
      per_example = optax.softmax_cross_entropy(members, jnp.broadcast_to(targets, members.shape))
    cross_entropy = per_example.mean()
    # Each member's own loss, summed: the weight decay weighs on each as on a single model.
    loss = per_example.mean(axis=-1).sum() + config.weight_decay * l2_penalty(params)
    probabilities = jax.nn.softmax(members, axis=-1).mean(axis=0)
    return loss, (cross_entropy, probabilities, updates["batch_stats"])

  (loss, (cross_entropy, probabilities, batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  metrics = {
      "loss": loss,
      "cross_entropy": cross_entropy,
      "accuracy": jnp.mean(jnp.argmax(probabilities, -1) == labels),
      "learning_rate": schedule(state.step),
      "grad_norm": optax.global_norm(grads),
  }
  state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  return state, metrics


def eval_step(state: TrainState, batch: dict[str, jax.Array]) -> jax.Array:
  """Logits with batch norm's running averages (each example independent of the batch)."""
  return state.apply_fn({"params": state.params, "batch_stats": state.batch_stats},
                        batch["features"], train=False)


def _count_traces(fn: Callable) -> tuple[Callable, dict[str, int]]:
  traces = {"count": 0}

  def counted(*args):
    traces["count"] += 1  # Runs only while tracing, so it counts compilations.
    return fn(*args)

  return counted, traces


def make_train_step(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh):
  """``(jitted step, traces)``: batch sharded, state replicated and donated."""
  step = lambda state, batch: train_step(
      state, batch, config=config, schedule=learning_rate_schedule(config))
  counted, traces = _count_traces(step)
  replicated = mesh_lib.replicated_sharding(mesh)
  jitted = jax.jit(counted, in_shardings=(replicated, mesh_lib.batch_sharding(mesh)),
                   out_shardings=(replicated, replicated), donate_argnums=0)
  return jitted, traces


def make_eval_step(mesh: jax.sharding.Mesh):
  counted, traces = _count_traces(eval_step)
  jitted = jax.jit(counted, in_shardings=(mesh_lib.replicated_sharding(mesh),
                                          mesh_lib.batch_sharding(mesh)),
                   out_shardings=mesh_lib.batch_sharding(mesh))
  return jitted, traces


def assert_compiled_once(name: str, traces: dict[str, int]) -> None:
  if traces["count"] > 1:
    raise CompiledMoreThanOnceError(
        f"the {name} step was compiled {traces['count']} times; every batch must have the same "
        "shape, dtype and sharding.")


def predict_split(eval_fn: Callable, state: TrainState, x: np.ndarray, y: np.ndarray,
                  batch_size: int, mesh: jax.sharding.Mesh) -> np.ndarray:
  """Logits ``[N, num_classes]`` of every example, in order (on every process)."""
  out = []
  for batch in input_pipeline.eval_batches(x, y, batch_size, jax.process_index(),
                                           jax.process_count()):
    batch = mesh_lib.shard_batch(batch, mesh)
    mask = mesh_lib.to_host(batch.pop("mask"))
    logits = mesh_lib.to_host(eval_fn(state, batch))
    out.append(logits[mask])
  return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def classification_report(logits: np.ndarray, labels: np.ndarray,
                          words: tuple[str, ...]) -> dict[str, Any]:
  """Accuracy, loss, confusion matrix (rows: true word) and per-word accuracy/count."""
  predictions = logits.argmax(-1)
  n = len(words)
  confusion = np.zeros((n, n), np.int64)
  np.add.at(confusion, (labels, predictions), 1)
  counts = confusion.sum(1)
  log_probs = jax.nn.log_softmax(jnp.asarray(logits), -1)
  loss = -float(jnp.mean(jnp.take_along_axis(log_probs, jnp.asarray(labels)[:, None], 1)))
  return {
      "accuracy": float(np.mean(predictions == labels)),
      "loss": loss,
      "count": int(len(labels)),
      "per_word": {w: {"accuracy": float(confusion[i, i] / counts[i]) if counts[i] else None,
                       "count": int(counts[i])} for i, w in enumerate(words)},
      "confusion": confusion.tolist(),
  }


def checkpoint_meta(config: ml_collections.ConfigDict,
                    data: input_pipeline.FeatureSet) -> dict[str, Any]:
  """What a restorer needs besides the arrays: model config, labels and the feature front end."""
  return {
      "config": json.loads(config.to_json_best_effort()),
      "words": list(data.words),
      "mfcc": data.mfcc_cfg.to_dict(),
      # Names the exact clips (paths, sizes, mtimes) and front end the features came from.
      "feature_cache": os.path.basename(data.cache_path),
      "feature_mean": np.asarray(data.mean, np.float64).tolist(),
      "feature_std": np.asarray(data.std, np.float64).tolist(),
  }


def state_to_save(state: TrainState) -> dict[str, Any]:
  """The arrays of a state (its optimiser and apply function are rebuilt from the config)."""
  return {"step": state.step, "params": state.params, "batch_stats": state.batch_stats,
          "opt_state": state.opt_state}


def load_data(config: ml_collections.ConfigDict) -> input_pipeline.FeatureSet:
  """Features of the config's data: its words (default: every word folder), then its
  ``non_keywords`` classes (``_unknown_``, ``_silence_``) as the last labels."""
  words = list(config.words) if config.words else dataset.words_in(config.data_dir)
  non_keywords = list(config.get("non_keywords", ()))
  missing = [w for w in non_keywords if not os.path.isdir(os.path.join(config.data_dir, w))]
  if missing:
    raise input_pipeline.FeatureDataError(
        f"{config.data_dir} has no {', '.join(missing)} folder for config.non_keywords; rebuild "
        "it with python -m launch.build_speech_data --config configs/speech_data.py, or set "
        "--config.non_keywords=''.")
  words += non_keywords
  return input_pipeline.load_features(
      config.data_dir, config.mfcc, config.cache_dir, words=words,
      channel_copies=config.augment.get("channel_copies", 0),
      channel=config.augment.get("channel"))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       data: input_pipeline.FeatureSet | None = None,
                       restore_step: int | None = None) -> dict[str, Any]:
  """Trains (resuming from ``workdir/checkpoints`` if any), evaluates, writes the reports.

  Args:
    config: a kws config (``configs/kws_*.py``).
    workdir: checkpoints, TensorBoard logs, metrics.jsonl and the final reports go here.
    data: preloaded features (the hyperparameter search shares one load); default: load them.
    restore_step: resume from this checkpoint step instead of the newest verified one (a
      rollback: the newer steps are deleted at the first save).

  Returns:
    ``results.json``'s contents: validation/test accuracy and loss, steps, wall times.
  """
  start_time = time.time()
  os.makedirs(workdir, exist_ok=True)
  data = load_data(config) if data is None else data
  mesh = mesh_lib.make_mesh()
  mesh_lib.check_batch_size(config.batch_size, mesh)
  mesh_lib.check_batch_size(config.eval_batch_size, mesh)
  total_steps = num_train_steps(config)
  x_train, y_train = data.splits["train"]
  input_pipeline.steps_per_epoch(len(x_train), config.batch_size)  # Fails early if too few.

  meta = checkpoint_meta(config, data)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, CHECKPOINT_DIR),
                                 max_to_keep=config.checkpoints_to_keep)
  start_step = 0
  target = abstract_train_state(config, len(data.words), x_train.shape[1:],
                                mesh_lib.replicated_sharding(mesh))
  if ckpt.latest_step() is None:
    checkpoint.check_restore_step(ckpt, restore_step)
    state = mesh_lib.replicate(create_train_state(
        jax.random.key(config.seed), config, len(data.words), x_train.shape[1:]), mesh)
  else:
    start_step, restored, saved_meta = ckpt.restore(state_to_save(target), restore_step)
    _check_same_data(saved_meta, meta, workdir)
    state = target.replace(**restored)
    if restore_step is not None:
      ckpt.drop_newer_than(restore_step)
    logging.info("resumed from step %d of %s", start_step, ckpt.directory)
  last_checkpoint = start_step if start_step else None
  resumed_at = last_checkpoint

  train_fn, train_traces = make_train_step(config, mesh)
  eval_fn, eval_traces = make_eval_step(mesh)
  primary = jax.process_index() == 0  # Only process 0 writes logs and reports.
  writer = loop.MetricWriter(workdir, enabled=primary, start_step=start_step)
  x_val, y_val = data.splits["validation"]

  def evaluate_validation(step):
    if not len(x_val):
      return
    report = classification_report(
        predict_split(eval_fn, state, x_val, y_val, config.eval_batch_size, mesh), y_val,
        data.words)
    writer.scalars(step, {"val_accuracy": report["accuracy"], "val_loss": report["loss"]})

  train_start = time.time()
  if start_step < total_steps:
    batches = input_pipeline.train_batches(x_train, y_train, config.batch_size, config.seed,
                                           start_step=start_step,
                                           process_index=jax.process_index(),
                                           process_count=jax.process_count())
    bar = loop.progress(total=total_steps, initial=start_step,
                        desc=f"train kws (resumed at {start_step})" if start_step else "train kws")
    pending = []  # Device metrics of steps since the last log, fetched together (no per-step sync).
    for step in range(start_step + 1, total_steps + 1):
      state, metrics = train_fn(state, mesh_lib.shard_batch(next(batches), mesh))
      pending.append(metrics)
      bar.update(1)
      if step % config.log_every_steps == 0 or step == total_steps:
        summary = {k: float(np.mean([m[k] for m in jax.device_get(pending)]))
                   for k in pending[0]}
        pending = []
        loop.check_finite(
            summary, step, last_checkpoint, workdir, resumed_at=resumed_at,
            earlier_step=lambda: ckpt.newest_verified(state_to_save(target), resumed_at))
        writer.scalars(step, summary)
        bar.set_postfix(loss=f"{summary['loss']:.3f}", acc=f"{summary['accuracy']:.3f}")
      if step % config.eval_every_steps == 0 and step != total_steps:
        evaluate_validation(step)
      if step % config.checkpoint_every_steps == 0 or step == total_steps:
        ckpt.save(step, state_to_save(state), meta)
        last_checkpoint = step
    bar.close()
  train_seconds = time.time() - train_start
  steps_run = total_steps - start_step
  assert_compiled_once("train", train_traces)

  results = {"steps": total_steps, "resumed_from_step": start_step,
             "devices": int(mesh.devices.size), "processes": jax.process_count(),
             "train_step_compilations": train_traces["count"],
             "train_seconds_this_run": train_seconds,
             "train_samples_per_second": (steps_run * config.batch_size / train_seconds
                                          if steps_run else None)}
  for split in ("validation", "test"):
    x, y = data.splits[split]
    if len(x):
      report = classification_report(
          predict_split(eval_fn, state, x, y, config.eval_batch_size, mesh), y, data.words)
      writer.scalars(total_steps, {f"{split}_accuracy": report["accuracy"],
                                   f"{split}_loss": report["loss"]})
      results[split] = report
  assert_compiled_once("eval", eval_traces)
  writer.close()
  ckpt.close()
  if primary:
    results["out_of_distribution"] = evaluate_out_of_distribution(config, workdir)
  results["wall_seconds_this_run"] = time.time() - start_time
  if primary:
    _write_reports(workdir, results, data.words)
  return results


def evaluate_out_of_distribution(config: ml_collections.ConfigDict,
                                 workdir: str) -> dict[str, Any] | None:
  """The trained model of ``workdir`` on the config's ``ood_data_dir`` (every clip), through the
  same waveform path as users' audio; None (with a note) when that folder is not built."""
  folder = config.get("ood_data_dir", "")
  if not folder:
    return None
  if not os.path.isdir(folder):
    logging.warning("no out-of-distribution yardstick at %s; build it with python -m "
                    "launch.build_speech_data --config configs/speech_data_ood.py", folder)
    return None
  from v2i_jax.speech import recognizer  # pylint: disable=g-import-not-at-top (imports train)
  return recognizer.evaluate_folder(workdir, folder, "all")


def _check_same_data(saved: dict[str, Any], current: dict[str, Any], workdir: str) -> None:
  """A resumed run must see the data the checkpoint saw, or it would not equal an
  uninterrupted run."""
  for key in ("words", "mfcc", "feature_cache"):
    if saved.get(key) != current[key]:
      raise checkpoint.CheckpointError(
          f"the checkpoint in {workdir} was trained with {key}={saved.get(key)}, but this run "
          f"uses {key}={current[key]} (the config or the clips in data_dir changed); use a new "
          "--workdir, or the original config and data.")


def _write_reports(workdir: str, results: dict[str, Any], words: tuple[str, ...]) -> None:
  with open(os.path.join(workdir, RESULTS_FILE), "w") as f:
    json.dump(results, f, indent=1)
  if "test" not in results:
    return
  report = results["test"]
  lines = [f"Test accuracy: {report['accuracy']:.4f} on {report['count']} clips.", "",
           "| word | accuracy | clips | most confused with |", "|---|---|---|---|"]
  confusion = np.asarray(report["confusion"])
  for i, word in enumerate(words):
    row = confusion[i].copy()
    row[i] = 0
    worst = f"{words[row.argmax()]} ({row.max()})" if row.max() else "-"
    acc = report["per_word"][word]["accuracy"]
    lines.append(f"| {word} | {'-' if acc is None else f'{acc:.3f}'} | "
                 f"{report['per_word'][word]['count']} | {worst} |")
  with open(os.path.join(workdir, "per_word_accuracy.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  with open(os.path.join(workdir, "per_word_accuracy.json"), "w") as f:
    json.dump(report["per_word"], f, indent=1)
  plot_confusion(confusion, words, os.path.join(workdir, "confusion_matrix.png"),
                 title=f"test accuracy {report['accuracy']:.3f}")


def plot_confusion(confusion: np.ndarray, words: tuple[str, ...], path: str, title: str) -> None:
  """Row-normalised confusion matrix (true word down, prediction across) as a PNG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
  size = max(4.0, 0.28 * len(words) + 2)
  fig, ax = plt.subplots(figsize=(size, size))
  ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
  ax.set_xticks(range(len(words)), words, rotation=90, fontsize=8)
  ax.set_yticks(range(len(words)), words, fontsize=8)
  ax.set_xlabel("predicted")
  ax.set_ylabel("spoken")
  ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
