"""GAN evaluation: Frechet distance against closed forms, accuracy on hand-made predictions, the
augmentation, and a judge trained for a few steps on the tiny emoji set (and its cache)."""

import numpy as np
import pytest

from configs import image_data_tiny
from configs import judge as judge_config
from v2i_jax.image import data as data_lib
from v2i_jax.image import evaluate


def test_fid_of_a_set_with_itself_is_zero():
  features = np.random.default_rng(0).normal(size=(300, 16))
  assert evaluate.feature_fid(features, features) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
  mu1, mu2 = np.zeros(4), np.array([1.0, -2.0, 0.5, 0.0])
  var1, var2 = np.array([1.0, 4.0, 0.25, 9.0]), np.array([4.0, 1.0, 1.0, 9.0])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
  got = evaluate.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
  assert got == pytest.approx(expected, rel=1e-6)


def test_fid_of_shifted_and_scaled_gaussian_samples_is_near_the_analytic_value():
  rng = np.random.default_rng(1)
  dim, shift = 4, np.array([1.0, 2.0, 0.0, -1.0])
  real = rng.normal(size=(40000, dim))
  fake = shift + 2.0 * rng.normal(size=(40000, dim))
  # ||shift||^2 + tr(I + 4I - 2 * 2I) = 6 + dim.
  assert evaluate.feature_fid(real, fake) == pytest.approx(6.0 + dim, rel=0.03)


def test_fid_with_fewer_images_than_features_is_finite():
  rng = np.random.default_rng(2)
  fid = evaluate.feature_fid(rng.normal(size=(10, 32)), rng.normal(size=(12, 32)) + 1.0)
  assert np.isfinite(fid) and fid > 0


def test_fid_rejects_mismatched_features():
  with pytest.raises(evaluate.JudgeError, match="same D"):
    evaluate.feature_fid(np.zeros((5, 3)), np.zeros((5, 4)))


def test_accuracy_by_class_on_hand_made_predictions():
  predictions = np.array([0, 0, 1, 2, 35, 2])
  labels = np.array([0, 1, 1, 2, 2, 2])
  overall, per_class = evaluate.accuracy_by_class(predictions, labels)
  assert overall == pytest.approx(4 / 6)
  assert per_class == {0: 1.0, 1: 0.5, 2: pytest.approx(2 / 3)}


def test_stratified_halves_split_every_class():
  labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
  first, second = evaluate.stratified_halves(labels, seed=3)
  assert sorted(np.concatenate([first, second]).tolist()) == list(range(len(labels)))
  for c in (0, 1, 2):
    assert abs((labels[first] == c).sum() - (labels[second] == c).sum()) <= 1


def test_augment_with_everything_off_is_the_identity_and_otherwise_changes_images():
  import jax
  images = np.random.default_rng(4).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
  off = judge_config.get_config().augment
  off.max_rotation_degrees, off.scale_range, off.max_shift = 0.0, (1.0, 1.0), 0.0
  off.brightness = off.contrast = off.saturation = off.max_blur = off.max_noise = 0.0
  augment = jax.jit(evaluate.augment)
  draw = lambda settings, seed: evaluate.draw_augmentation(np.random.default_rng(seed), 4, 32,
                                                           settings)
  same = augment(images, draw(off, 0))
  np.testing.assert_allclose(np.asarray(same), images, atol=1e-5)
  on = judge_config.get_config().augment
  changed = np.asarray(augment(images, draw(on, 0)))
  assert changed.shape == images.shape and np.abs(changed).max() <= 1.0
  assert np.abs(changed - images).mean() > 0.05
  np.testing.assert_array_equal(changed, np.asarray(augment(images, draw(on, 0))))
  # A pure 90-degree turn moves pixels exactly: the sampler's geometry is right.
  turn = draw(off, 0)
  turn["angle"] = np.full(4, np.pi / 2, np.float32)
  turned = np.asarray(augment(images, turn))
  np.testing.assert_allclose(turned, np.rot90(images, k=1, axes=(1, 2)), atol=1e-4)


@pytest.fixture(scope="module")
def tiny_emoji():
  data, _ = data_lib.build_emoji_dataset(image_data_tiny.get_config())
  return data


def _tiny_judge_config(cache_dir):
  config = judge_config.get_config()
  config.data = image_data_tiny.get_config()
  config.cache_dir = str(cache_dir)
  config.channels = (8, 16, 32)
  config.features = 16
  config.batch_size = 16
  config.num_steps = 60
  config.warmup_steps = 5
  config.learning_rate = 3e-2
  return config


@pytest.fixture(scope="module")
def tiny_judge(tiny_emoji, tmp_path_factory, monkeypatch_module):
  config = _tiny_judge_config(tmp_path_factory.mktemp("judge"))
  monkeypatch_module.setattr(evaluate.data_lib, "load_caption_dataset",
                             lambda name, split, config: tiny_emoji)
  return config, evaluate.load_or_train_judge(config, show_progress=False)


@pytest.fixture(scope="module")
def monkeypatch_module():
  with pytest.MonkeyPatch.context() as patch:
    yield patch


def test_the_judge_learns_its_keywords_beyond_chance(tiny_judge):
  _, (judge, data, info) = tiny_judge
  keywords_present = np.unique(data.keyword_labels).size
  assert keywords_present >= 5 and not info["cached"]
  accuracy, _ = evaluate.conditional_accuracy(judge, data.keyword_images, data.keyword_labels)
  assert accuracy == pytest.approx(info["train_accuracy"])
  assert accuracy > 2.0 / keywords_present, accuracy
  features = evaluate.judge_features(judge, data.keyword_images)
  assert features.shape == (len(data.keyword_images), 16) and np.isfinite(features).all()


def test_the_judge_is_cached_and_restored(tiny_judge):
  config, (judge, data, _) = tiny_judge
  restored, restored_data, info = evaluate.load_or_train_judge(config, show_progress=False)
  assert info["cached"]
  np.testing.assert_array_equal(restored_data.keyword_images, data.keyword_images)
  np.testing.assert_allclose(evaluate.judge_features(restored, data.keyword_images),
                             evaluate.judge_features(judge, data.keyword_images), atol=1e-5)
  changed = _tiny_judge_config(config.cache_dir)
  changed.num_steps += 1
  assert evaluate.judge_dir(changed) != evaluate.judge_dir(config)


def test_evaluate_generator_scores_a_generator_that_copies_real_images(tiny_judge):
  _, (judge, data, _) = tiny_judge
  present = [evaluate.KEYWORDS[c] for c in np.unique(data.keyword_labels)]

  def copy_real(captions, n, seed):
    rng = np.random.default_rng(seed)
    rows = [rng.choice(np.flatnonzero(data.keyword_labels == evaluate.KEYWORDS.index(c)), n)
            for c in captions]
    return data.keyword_images[np.concatenate(rows)]

  result = evaluate.evaluate_generator(copy_real, judge, data, num_per_caption=4,
                                       keywords=present)
  assert result["num_generated"] == 4 * len(present)
  assert set(result["per_keyword"]) == set(present)
  assert 0.0 <= result["conditional_accuracy"] <= 1.0
  assert result["conditional_accuracy"] > 1.0 / len(present)
  assert np.isfinite(result["feature_fid"]) and np.isfinite(result["real_feature_fid"])
  noise = lambda captions, n, seed: np.random.default_rng(seed).integers(
      0, 256, (len(captions) * n, 64, 64, 3), dtype=np.uint8)
  noisy = evaluate.evaluate_generator(noise, judge, data, num_per_caption=4, keywords=present)
  assert noisy["feature_fid"] > result["feature_fid"]
  # Copies sit on real images; noise is far from them and varied; one picture per keyword has
  # no diversity at all.
  assert result["memorisation_ratio"] == pytest.approx(0.0, abs=1e-6)
  assert result["near_copy_rate"] == 1.0
  assert noisy["memorisation_ratio"] > 1.0 and noisy["diversity"] > 0
  one = lambda captions, n, seed: np.repeat(copy_real(captions, 1, seed), n, axis=0)
  collapsed = evaluate.evaluate_generator(one, judge, data, num_per_caption=4, keywords=present)
  assert collapsed["diversity"] == pytest.approx(0.0, abs=1e-6)
  assert collapsed["pixel_spread"] == 0.0 < collapsed["real_pixel_spread"]
  multi = [k for k, v in collapsed["per_keyword"].items() if v.get("num_real", 0) >= 2]
  assert multi and all(collapsed["per_keyword"][k]["nearest_real_coverage"] < 1.0 for k in multi)
  assert 0.0 <= collapsed["judged_other"] <= 1.0
  assert collapsed["conditional_accuracy"] <= collapsed["argmax_accuracy"]
  table = evaluate.per_keyword_table(collapsed)
  assert table.count("\n") == 2 + len(present) and "| keyword | accuracy |" in table


def test_the_threshold_turns_unsure_keyword_verdicts_into_other(tiny_judge):
  _, (judge, _, info) = tiny_judge
  assert 0.0 < info["threshold"] == judge.threshold < 1.0
  # The threshold keeps accept_rate (0.95) of the renders the judge names right.
  assert info["calibration_accepted"] == pytest.approx(0.95 * info["calibration_accuracy"],
                                                       abs=0.03)
  logits = np.array([[2.0, 1.9] + [0.0] * 34, [9.0, 0.0] + [0.0] * 34, [0.0] * 35 + [5.0]])
  np.testing.assert_array_equal(evaluate.strict_predictions(logits, 0.5),
                                [evaluate.OTHER, 0, evaluate.OTHER])
  np.testing.assert_array_equal(evaluate.strict_predictions(logits, 0.0),
                                [0, 0, evaluate.OTHER])


def test_evaluate_generator_rejects_bad_generators_and_captions(tiny_judge):
  _, (judge, data, _) = tiny_judge
  short = lambda captions, n, seed: np.zeros((1, 64, 64, 3), np.uint8)
  with pytest.raises(evaluate.JudgeError, match="caption-major"):
    evaluate.evaluate_generator(short, judge, data, num_per_caption=2, keywords=("cat",))
  with pytest.raises(evaluate.JudgeError, match="not keywords"):
    evaluate.evaluate_generator(short, judge, data, num_per_caption=2, keywords=("pizza",))
  with pytest.raises(evaluate.JudgeError, match="uint8"):
    evaluate.judge_features(judge, np.zeros((2, 64, 64, 3), np.float32))
