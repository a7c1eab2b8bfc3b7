import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from v2i_jax.speech import models

PAPER_WIDTHS = (100, 100, 100, 100, 70, 50, 50, 30)


def _init(model, shape):
  x = jnp.ones(shape)
  return model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, x, train=False)


def test_mlp_is_the_papers_network():
  model = models.MLP(hidden_sizes=PAPER_WIDTHS, num_classes=30)
  variables = _init(model, (2, 44, 5))
  params = variables["params"]
  widths = [params[f"Dense_{i}"]["kernel"].shape for i in range(9)]
  assert widths[0] == (44 * 5, 100)
  assert [w[1] for w in widths] == list(PAPER_WIDTHS) + [30]
  # Batch norm after each hidden layer, none after the output layer.
  assert sorted(variables["batch_stats"]) == [f"BatchNorm_{i}" for i in range(8)]
  for i in range(9):
    np.testing.assert_array_equal(params[f"Dense_{i}"]["bias"], 0.0)


def test_mlp_init_is_normal_with_std_one_over_sqrt_fan_in():
  model = models.MLP(hidden_sizes=(1000,), num_classes=3)
  kernel = np.asarray(_init(model, (1, 400))["params"]["Dense_0"]["kernel"])
  assert kernel.std() == pytest.approx(1 / np.sqrt(400), rel=0.02)
  # Not truncated: some weights lie beyond 2 standard deviations (~4.6% of 400k).
  assert np.mean(np.abs(kernel) > 2 / np.sqrt(400)) == pytest.approx(0.0455, abs=0.005)


@pytest.mark.parametrize("model", [
    models.MLP(hidden_sizes=(32, 16), num_classes=5),
    models.DSCNN(num_classes=5, channels=8, num_blocks=2),
])
def test_eval_uses_running_statistics(model):
  x = jax.random.normal(jax.random.key(2), (4, 20, 10))
  variables = _init(model, x.shape)
  # Evaluation: each example's logits do not depend on the rest of the batch.
  full = model.apply(variables, x, train=False)
  alone = model.apply(variables, x[:1], train=False)
  np.testing.assert_allclose(full[:1], alone, atol=1e-5)
  # Training: batch statistics are used and the running averages move.
  logits, updates = model.apply(variables, x, train=True, mutable=["batch_stats"],
                                rngs={"dropout": jax.random.key(3)})
  assert logits.shape == (4, 5)
  assert not np.allclose(logits[:1], model.apply(variables, x[:1], train=False), atol=1e-3)
  moved = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()),
                                 updates["batch_stats"], variables["batch_stats"])
  assert max(jax.tree_util.tree_leaves(moved)) > 0


def test_dscnn_shapes_and_size():
  model = models.DSCNN(num_classes=35)
  variables = _init(model, (3, 49, 40))
  n_params = sum(p.size for p in jax.tree_util.tree_leaves(variables["params"]))
  assert 10_000 < n_params < 100_000  # compact: DS-CNN-S is ~24k weights
  assert model.apply(variables, jnp.zeros((3, 49, 40))).shape == (3, 35)
  # Depthwise convolutions: one 3x3 filter per channel.
  assert variables["params"]["Conv_1"]["kernel"].shape == (3, 3, 1, 64)


def test_build_model():
  mlp = models.build_model(ml_collections.ConfigDict(
      {"name": "mlp", "hidden_sizes": [8, 4], "dropout_rate": 0.1}), num_classes=3)
  assert isinstance(mlp, models.MLP) and mlp.hidden_sizes == (8, 4)
  cnn = models.build_model(ml_collections.ConfigDict(
      {"name": "cnn", "channels": 16, "num_blocks": 1, "first_kernel": [3, 3],
       "first_stride": [1, 1]}), num_classes=3)
  assert isinstance(cnn, models.DSCNN) and cnn.channels == 16
  with pytest.raises(ValueError, match="config.model.name"):
    models.build_model(ml_collections.ConfigDict({"name": "rnn"}), num_classes=3)
