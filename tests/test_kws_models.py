import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from v2i_jax.speech import models

PAPER_WIDTHS = (100, 100, 100, 100, 70, 50, 50, 30)


def _init(model, shape):
  return jax.jit(lambda key: model.init(key, jnp.zeros(shape), train=False))(jax.random.key(0))


def _shapes(model, shape):
  """Variable shapes without running (or compiling) the initialisers."""
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False))


def test_mlp_is_the_papers_network():
  variables = _shapes(models.MLP(hidden_sizes=PAPER_WIDTHS, num_classes=30), (2, 44, 5))
  params = variables["params"]
  widths = [params[f"Dense_{i}"]["kernel"].shape for i in range(9)]
  assert widths[0] == (44 * 5, 100)
  assert [w[1] for w in widths] == list(PAPER_WIDTHS) + [30]
  # Batch norm after each hidden layer, none after the output layer.
  assert sorted(variables["batch_stats"]) == [f"BatchNorm_{i}" for i in range(8)]


def test_mlp_init_is_normal_with_std_one_over_sqrt_fan_in_and_zero_bias():
  params = _init(models.MLP(hidden_sizes=(1000,), num_classes=3), (1, 20, 20))["params"]
  kernel = np.asarray(params["Dense_0"]["kernel"])
  assert kernel.std() == pytest.approx(1 / np.sqrt(400), rel=0.02)
  # Not truncated: ~4.55% of a normal's samples lie beyond 2 standard deviations.
  assert np.mean(np.abs(kernel) > 2 / np.sqrt(400)) == pytest.approx(0.0455, abs=0.005)
  np.testing.assert_array_equal(params["Dense_0"]["bias"], 0.0)
  np.testing.assert_array_equal(params["Dense_1"]["bias"], 0.0)


@pytest.mark.parametrize("model", [
    models.MLP(hidden_sizes=(32, 16), num_classes=5, dropout_rate=0.5),
    models.DSCNN(num_classes=5, channels=8, num_blocks=2, dropout_rate=0.5),
], ids=["mlp", "cnn"])
def test_eval_uses_running_statistics(model):
  x = jax.random.normal(jax.random.key(2), (4, 20, 10))
  variables = _init(model, x.shape)

  @jax.jit
  def run(variables, x):
    evaluated = model.apply(variables, x, train=False)
    trained, updates = model.apply(variables, x, train=True, mutable=["batch_stats"],
                                   rngs={"dropout": jax.random.key(3)})
    return evaluated, trained, updates["batch_stats"]

  evaluated, trained, new_stats = run(variables, x)
  # Evaluation: an example's logits do not depend on the rest of the batch (no batch stats,
  # no dropout), so the first example alone gives the same logits.
  alone, _, _ = run(variables, jnp.concatenate([x[:1], x[:1] + 5.0, x[2:]]))
  np.testing.assert_allclose(evaluated[0], alone[0], atol=1e-5)
  # Training: batch statistics and dropout are used, and the running averages move.
  assert trained.shape == (4, 5)
  assert not np.allclose(trained[0], evaluated[0], atol=1e-3)
  moved = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()),
                                 new_stats, variables["batch_stats"])
  assert max(jax.tree_util.tree_leaves(moved)) > 0


def test_dscnn_shapes_and_size():
  params = _shapes(models.DSCNN(num_classes=35), (3, 101, 40))["params"]
  n_params = sum(p.size for p in jax.tree_util.tree_leaves(params))
  assert 10_000 < n_params < 100_000  # compact: DS-CNN-S has ~24k weights
  # Depthwise convolutions: one 3x3 filter per channel, then 1x1 mixing.
  assert params["Conv_1"]["kernel"].shape == (3, 3, 1, 64)
  assert params["Conv_2"]["kernel"].shape == (1, 1, 64, 64)
  assert params["Dense_0"]["kernel"].shape == (64, 35)


def test_build_model():
  mlp = models.build_model(ml_collections.ConfigDict(
      {"name": "mlp", "hidden_sizes": [8, 4], "dropout_rate": 0.1}), num_classes=3)
  assert isinstance(mlp, models.MLP) and mlp.hidden_sizes == (8, 4)
  cnn = models.build_model(ml_collections.ConfigDict(
      {"name": "cnn", "channels": 16, "num_blocks": 1, "first_kernel": [3, 3],
       "first_stride": [1, 1]}), num_classes=3)
  assert isinstance(cnn, models.DSCNN) and cnn.first_kernel == (3, 3)
  with pytest.raises(ValueError, match="config.model.name"):
    models.build_model(ml_collections.ConfigDict({"name": "rnn"}), num_classes=3)


def test_temporal_cnn_pools_over_time_and_builds_from_config():
  config = ml_collections.ConfigDict(dict(name="temporal_cnn", widths=(16, 8), kernel=3,
                                          dropout_rate=0.0))
  model = models.build_model(config, 5)
  variables = _init(model, (2, 9, 96))
  assert variables["params"]["Conv_0"]["kernel"].shape == (3, 96, 16)
  assert variables["params"]["Dense_0"]["kernel"].shape == (2 * 8, 5)  # max + mean of 8
  x = jax.random.normal(jax.random.key(1), (2, 9, 96))
  logits = model.apply(variables, x, train=False)
  assert logits.shape == (2, 5) and bool(jnp.all(jnp.isfinite(logits)))


def test_ensemble_trains_members_apart_and_evaluates_their_mean():
  config = ml_collections.ConfigDict(dict(name="temporal_cnn", widths=(8,), kernel=3,
                                          dropout_rate=0.0, ensemble=3))
  model = models.build_model(config, 4)
  variables = _init(model, (2, 9, 12))
  assert sorted(variables["params"]) == ["members_0", "members_1", "members_2"]
  kernels = [variables["params"][f"members_{i}"]["Dense_0"]["kernel"] for i in range(3)]
  assert not np.allclose(kernels[0], kernels[1])  # Each member initialised on its own.
  x = jax.random.normal(jax.random.key(1), (2, 9, 12))
  per_member, _ = model.apply(variables, x, train=True, mutable=["batch_stats"])
  assert per_member.shape == (3, 2, 4)
  single = models.build_model(ml_collections.ConfigDict(dict(config.to_dict(), ensemble=1)), 4)
  probs = [jax.nn.softmax(single.apply({k: v[f"members_{i}"] for k, v in variables.items()},
                                       x, train=False)) for i in range(3)]
  mean_log = model.apply(variables, x, train=False)
  assert mean_log.shape == (2, 4)
  np.testing.assert_allclose(jax.nn.softmax(mean_log), np.mean(probs, axis=0), atol=1e-6)
  for bad in (0, 1.5, "3", True):
    with pytest.raises(ValueError, match="config.model.ensemble"):
      models.build_model(ml_collections.ConfigDict(dict(config.to_dict(), ensemble=bad)), 4)
