"""GAN input: cached caption embeddings, wrong-caption sampling, determinism and resume."""

import numpy as np
import pytest
from gensim.models import KeyedVectors

from v2i_jax.text import captions, gan_input, vectors
from v2i_jax.text.types import CaptionDataError, CaptionedImages

VOCAB = ["cat", "dog", "red", "bird", "house", "tree", "car", "sun", "blue", "small"]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
  kv = KeyedVectors(4)
  kv.add_vectors(VOCAB, np.random.default_rng(0).normal(size=(len(VOCAB), 4)).astype(np.float32))
  path = str(tmp_path_factory.mktemp("vectors") / "toy.txt")
  kv.save_word2vec_format(path, binary=False)
  return vectors.VectorSource.word2vec(path)


def _data(num_images=40, num_classes=4, captions_per_image=3, seed=0):
  rng = np.random.default_rng(seed)
  caps = [[" ".join(rng.choice(VOCAB, 3)) for _ in range(captions_per_image)]
          for _ in range(num_images)]
  class_ids = None if num_classes is None else np.arange(num_images) % num_classes
  names = None if num_classes is None else [f"class {c}" for c in range(num_classes)]
  images = rng.integers(0, 256, (num_images, 8, 8, 3), dtype=np.uint8)
  return CaptionedImages(images, caps, class_ids, names)


def test_captioned_images_checks_its_shape():
  images = np.zeros((2, 8, 8, 3), np.uint8)
  with pytest.raises(CaptionDataError, match="uint8 array shaped"):
    CaptionedImages(images.astype(np.float32), [["a"], ["b"]])
  with pytest.raises(CaptionDataError, match="2 images but 1 caption lists"):
    CaptionedImages(images, [["a"]])
  with pytest.raises(CaptionDataError, match="one or more"):
    CaptionedImages(images, [["a"], []])
  with pytest.raises(CaptionDataError, match="one or more"):
    CaptionedImages(images, [["a"], "b"])
  with pytest.raises(CaptionDataError, match="both class_ids and class_names"):
    CaptionedImages(images, [["a"], ["b"]], class_ids=np.array([0, 1]))
  with pytest.raises(CaptionDataError, match="class names"):
    CaptionedImages(images, [["a"], ["b"]], np.array([0, 2]), ["x", "y"])


def test_embeddings_match_captions_and_are_cached(spec, tmp_path, monkeypatch):
  data = _data()
  emb = gan_input.embed_dataset(data, spec, cache_dir=str(tmp_path))
  kv = vectors.load_vectors(spec)
  flat = [c for caps in data.captions for c in caps]
  np.testing.assert_array_equal(emb.vectors, captions.embed_captions(flat, kv))
  np.testing.assert_array_equal(emb.first, np.arange(40) * 3)
  np.testing.assert_array_equal(emb.count, np.full(40, 3))
  assert emb.embedding_dim == 8 and emb.source_id == vectors.source_id(spec)
  [cache_file] = list(tmp_path.iterdir())
  assert cache_file.name.startswith("caption_embeddings-word2vec_toy.txt_")

  # The second call reads the cache and never loads the word vectors.
  def no_load(_):
    raise AssertionError("word vectors loaded despite the cache")
  monkeypatch.setattr(vectors, "load_vectors", no_load)
  again = gan_input.embed_dataset(data, spec, cache_dir=str(tmp_path))
  np.testing.assert_array_equal(again.vectors, emb.vectors)
  assert again.key == emb.key
  # Other captions: another key, so a miss (which here would load vectors).
  with pytest.raises(AssertionError, match="despite the cache"):
    gan_input.embed_dataset(_data(seed=1), spec, cache_dir=str(tmp_path))


def test_corrupt_cache_is_recomputed(spec, tmp_path):
  data = _data()
  emb = gan_input.embed_dataset(data, spec, cache_dir=str(tmp_path))
  [cache_file] = list(tmp_path.iterdir())
  whole = cache_file.read_bytes()
  for corrupt in (b"not a zip", whole[:len(whole) // 2]):
    cache_file.write_bytes(corrupt)
    again = gan_input.embed_dataset(data, spec, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again.vectors, emb.vectors)


def test_captions_without_known_words_are_dropped(spec):
  data = _data(num_images=4, num_classes=None, captions_per_image=2)
  caps = [list(c) for c in data.captions]
  caps[1][0] = "xyzzy plugh"
  caps[2] = ["", "qwerty"]
  data = CaptionedImages(data.images, caps)
  emb = gan_input.embed_dataset(data, spec)
  np.testing.assert_array_equal(emb.count, [2, 1, 0, 2])
  np.testing.assert_array_equal(emb.first, [0, 2, 3, 3])
  kv = vectors.load_vectors(spec)
  np.testing.assert_array_equal(emb.vectors[2], captions.embed_caption(caps[1][1], kv).vector)
  pipeline = gan_input.GanInput(data, emb, batch_size=3, seed=0)
  for step in range(5):
    assert 2 not in pipeline.batch(step)["image_index"]
  with pytest.raises(captions.CaptionError, match="no caption of the data set"):
    gan_input.embed_dataset(CaptionedImages(data.images[:1], [["xyzzy"]]), spec)


def _own_rows(emb, image):
  return set(range(emb.first[image], emb.first[image] + emb.count[image]))


@pytest.mark.parametrize("num_classes", [4, None, 1])
def test_right_and_wrong_captions(spec, num_classes):
  data = _data(num_classes=num_classes)
  emb = gan_input.embed_dataset(data, spec)
  pipeline = gan_input.GanInput(data, emb, batch_size=8, seed=5)
  for step in range(60):
    images, right, wrong = pipeline.indices(step)
    batch = pipeline.batch(step)
    for image, r, w in zip(images, right, wrong):
      assert r in _own_rows(emb, image)
      assert w not in _own_rows(emb, image)
      assert not any(np.array_equal(emb.vectors[w], emb.vectors[o]) for o in _own_rows(emb, image))
      if num_classes == 4:  # with one class, "another class" falls back to "another image"
        owner = np.searchsorted(emb.first, w, side="right") - 1
        assert data.class_ids[owner] != data.class_ids[image]
    np.testing.assert_array_equal(batch["embedding"], emb.vectors[right])
    np.testing.assert_array_equal(batch["wrong_embedding"], emb.vectors[wrong])


def test_wrong_caption_avoids_repeated_caption_text(spec):
  # Images 0 and 1 (different classes) share the text "red bird"; wrong for 0 must not be it.
  caps = [["red bird"], ["red bird", "cat"], ["dog"], ["sun"]]
  images = np.zeros((4, 8, 8, 3), np.uint8)
  data = CaptionedImages(images, caps, np.array([0, 1, 2, 3]), ["a", "b", "c", "d"])
  emb = gan_input.embed_dataset(data, spec)
  pipeline = gan_input.GanInput(data, emb, batch_size=4, seed=0)
  red_bird = {0, 1}
  for step in range(200):
    images, _, wrong = pipeline.indices(step)
    assert wrong[images == 0][0] not in red_bird
    assert wrong[images == 1][0] not in red_bird | {2}


def test_images_are_scaled_to_minus_one_one(spec):
  data = _data()
  pipeline = gan_input.GanInput(data, gan_input.embed_dataset(data, spec), batch_size=8)
  batch = pipeline.batch(3)
  assert batch["image"].dtype == np.float32 and batch["image"].shape == (8, 8, 8, 3)
  np.testing.assert_allclose(batch["image"],
                             data.images[batch["image_index"]] / 127.5 - 1.0, atol=1e-6)
  assert batch["image"].min() >= -1.0 and batch["image"].max() <= 1.0


def test_random_flip_mirrors_some_images(spec):
  data = _data()
  pipeline = gan_input.GanInput(data, gan_input.embed_dataset(data, spec), batch_size=32,
                                random_flip=True)
  batch = pipeline.batch(0)
  plain = data.images[batch["image_index"]] / 127.5 - 1.0
  flipped = np.array([np.allclose(b, p[:, ::-1], atol=1e-6) and not np.allclose(b, p, atol=1e-6)
                      for b, p in zip(batch["image"], plain)])
  kept = np.array([np.allclose(b, p, atol=1e-6) for b, p in zip(batch["image"], plain)])
  assert np.all(flipped | kept) and 0 < flipped.sum() < 32


def test_epochs_visit_each_image_once_and_order_depends_on_seed(spec):
  data = _data(num_images=37)
  emb = gan_input.embed_dataset(data, spec)
  pipeline = gan_input.GanInput(data, emb, batch_size=8, seed=1)
  assert pipeline.steps_per_epoch == 4  # 37 // 8, the remainder dropped
  for epoch in range(2):
    seen = np.concatenate([pipeline.batch(epoch * 4 + s)["image_index"] for s in range(4)])
    assert len(set(seen.tolist())) == 32
  first_epoch = [pipeline.batch(s)["image_index"] for s in range(4)]
  second_epoch = [pipeline.batch(4 + s)["image_index"] for s in range(4)]
  assert not all(np.array_equal(a, b) for a, b in zip(first_epoch, second_epoch))
  other = gan_input.GanInput(data, emb, batch_size=8, seed=2)
  assert not np.array_equal(other.batch(0)["image_index"], pipeline.batch(0)["image_index"])


def test_deterministic_and_resumable(spec):
  data = _data()
  emb = gan_input.embed_dataset(data, spec)
  uninterrupted = list(gan_input.GanInput(data, emb, batch_size=8, seed=7).batches(0, 12))
  resumed = list(gan_input.GanInput(data, emb, batch_size=8, seed=7).batches(start_step=7,
                                                                            num_steps=5))
  for a, b in zip(uninterrupted[7:], resumed, strict=True):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


def test_tf_dataset_yields_the_same_batches(spec):
  data = _data()
  pipeline = gan_input.GanInput(data, gan_input.embed_dataset(data, spec), batch_size=8, seed=3)
  from_tf = list(pipeline.tf_dataset(start_step=5, num_steps=3).as_numpy_iterator())
  assert len(from_tf) == 3
  for step, batch in zip(range(5, 8), from_tf):
    expected = pipeline.batch(step)
    assert set(batch) == set(expected)
    for key in batch:
      np.testing.assert_array_equal(batch[key], expected[key])


def test_bad_pipeline_arguments(spec):
  data = _data(num_images=6)
  emb = gan_input.embed_dataset(data, spec)
  with pytest.raises(CaptionDataError, match="non-negative"):
    gan_input.GanInput(data, emb, batch_size=2, seed=-1)
  with pytest.raises(CaptionDataError, match="positive number"):
    gan_input.GanInput(data, emb, batch_size=0)
  with pytest.raises(CaptionDataError, match="smaller batch"):
    gan_input.GanInput(data, emb, batch_size=7)
  with pytest.raises(CaptionDataError, match="embed this data set"):
    gan_input.GanInput(_data(num_images=5), emb, batch_size=2)
  with pytest.raises(ValueError, match="negative"):
    gan_input.GanInput(data, emb, batch_size=2).batch(-1)


def test_dominant_class_and_repeated_text_use_the_exact_fallbacks(spec):
  # 30 images of class 0 and 2 of class 1, so drawing another class by rejection mostly fails;
  # class 1's captions are mostly "red bird", which 29 class-0 images have too, so drawing a
  # caption of other text by rejection often fails. The exact draws must take over.
  caps = [["cat dog"] if i == 0 else ["red bird", "cat sun"] for i in range(30)]
  caps += [["red bird"] * 7 + ["blue car"], ["red bird"] * 7 + ["small tree"]]
  data = CaptionedImages(np.zeros((32, 8, 8, 3), np.uint8), caps,
                         np.array([0] * 30 + [1, 1]), ["many", "few"])
  emb = gan_input.embed_dataset(data, spec)
  pipeline = gan_input.GanInput(data, emb, batch_size=8, seed=0)
  exact_calls = []
  exact_wrong = pipeline._exact_wrong
  pipeline._exact_wrong = lambda *args: exact_calls.append(1) or exact_wrong(*args)
  class_1_rows = set(range(emb.first[30], len(emb.vectors)))
  other_text = {emb.first[30] + 7, emb.first[31] + 7}  # "blue car", "small tree"
  for step in range(40):
    images, _, wrong = pipeline.indices(step)
    for image, w in zip(images, wrong):
      if image == 0:
        assert w in class_1_rows
      elif image < 30:  # has "red bird" itself
        assert w in other_text
      else:
        assert w < emb.first[30]  # a caption of class 0
  assert exact_calls  # the fallback ran (and the checks above held through it)


def test_repeats_oversample_images_per_epoch(spec):
  data = _data(num_images=40)
  emb = gan_input.embed_dataset(data, spec)
  repeats = np.where(np.arange(40) < 4, 5, 1)  # images 0..3 five times each: 56 per epoch
  pipeline = gan_input.GanInput(data, emb, batch_size=8, seed=3, repeats=repeats)
  assert pipeline.steps_per_epoch == 7
  seen = np.concatenate([pipeline.indices(step)[0] for step in range(7)])
  np.testing.assert_array_equal(np.bincount(seen, minlength=40), repeats)
  with pytest.raises(CaptionDataError, match="one per image"):
    gan_input.GanInput(data, emb, batch_size=8, repeats=np.ones(3, int))
  with pytest.raises(CaptionDataError, match="fewer than a batch"):
    gan_input.GanInput(data, emb, batch_size=8, repeats=np.zeros(40, int))
