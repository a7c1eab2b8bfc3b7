"""Tokenisation and [min, max] caption embeddings on a toy vocabulary with hand-computed values."""

import numpy as np
import pytest
from gensim.models import KeyedVectors

from v2i_jax.text import captions


@pytest.fixture(scope="module")
def kv():
  toy = KeyedVectors(3)
  toy.add_vectors(["a", "b", "c", "cat", "5", "o'clock", "dont"],
                  np.array([[1, -2, 3], [0, 5, -1], [2, 2, 2], [-4, 0, 1], [9, 9, -9],
                            [0, 0, 7], [-1, -1, -1]], np.float32))
  toy.source_name = "toy"
  return toy


@pytest.mark.parametrize("text, expected", [
    ("A Cat", ["a", "cat"]),
    ("T-shirt_red", ["t", "shirt", "red"]),
    ("red, green; blue!", ["red", "green", "blue"]),
    ("the dog's ball", ["the", "dog", "ball"]),
    ("the dog’s ball", ["the", "dog", "ball"]),
    ("don't", ["don't"]),
    ("six o’clock", ["six", "o'clock"]),
    ("'quoted' words'", ["quoted", "words"]),
    ("5 cats and 12 dogs", ["5", "cats", "and", "12", "dogs"]),
    ("keycap: 5", ["keycap", "5"]),
    ("Café au lait", ["café", "au", "lait"]),
    ("smiling 😀 face", ["smiling", "face"]),
    ("  ", []),
    ("?!...", []),
])
def test_tokenize(text, expected):
  assert captions.tokenize(text) == expected


def test_tokenize_rejects_non_strings():
  with pytest.raises(captions.CaptionError, match="must be a string"):
    captions.tokenize(None)


def test_min_max_values_and_order(kv):
  result = captions.embed_caption("a b", kv)
  # a = [1, -2, 3], b = [0, 5, -1]: min = [0, -2, -1], max = [1, 5, 3].
  np.testing.assert_array_equal(result.vector, [0, -2, -1, 1, 5, 3])
  assert result.vector.dtype == np.float32
  assert result.known_words == ("a", "b")
  assert result.oov_words == ()


def test_single_word_is_min_equal_max(kv):
  np.testing.assert_array_equal(captions.embed_caption("cat", kv).vector, [-4, 0, 1, -4, 0, 1])


def test_case_punctuation_and_repeats_do_not_change_the_embedding(kv):
  base = captions.embed_caption("a c", kv).vector
  for variant in ("A, C!", "a_c", "a-c", "c a a c"):
    np.testing.assert_array_equal(captions.embed_caption(variant, kv).vector, base)


def test_oov_words_are_skipped_and_reported(kv):
  result = captions.embed_caption("a zebra b qux", kv)
  np.testing.assert_array_equal(result.vector, captions.embed_caption("a b", kv).vector)
  assert result.known_words == ("a", "b")
  assert result.oov_words == ("zebra", "qux")


def test_all_oov_caption_is_a_clear_error(kv):
  with pytest.raises(captions.CaptionError) as info:
    captions.embed_caption("xyzzy qwe", kv)
  message = str(info.value)
  assert "'xyzzy qwe'" in message and "toy vocabulary" in message
  assert "'cat'" in message  # a suggestion that is in the vocabulary


@pytest.mark.parametrize("empty", ["", "   ", "?!"])
def test_empty_caption_is_a_clear_error(kv, empty):
  with pytest.raises(captions.CaptionError, match="no word to embed"):
    captions.embed_caption(empty, kv)


def test_zeros_fallback(kv):
  for caption in ("", "xyzzy"):
    result = captions.embed_caption(caption, kv, on_empty="zeros")
    np.testing.assert_array_equal(result.vector, np.zeros(6))
    assert result.known_words == ()
  with pytest.raises(ValueError, match="on_empty"):
    captions.embed_caption("a", kv, on_empty="mean")


def test_batch_embedding_matches_one_by_one(kv):
  rng = np.random.default_rng(0)
  pool = ["a", "b", "c", "cat", "5", "zebra", "Dog"]
  texts = [" ".join(rng.choice(pool, rng.integers(1, 6))) for _ in range(300)]
  texts = [t if any(w in t.split() for w in ("a", "b", "c", "cat", "5")) else t + " a"
           for t in texts]
  batch = captions.embed_captions(texts, kv)
  assert batch.shape == (300, 6) and batch.dtype == np.float32
  for text, row in zip(texts, batch):
    np.testing.assert_array_equal(row, captions.embed_caption(text, kv).vector)


def test_batch_reports_and_errors(kv):
  texts = ["a b", "zebra", "", "c zebra zebra"]
  report = captions.embed_captions_with_report(texts, kv)
  np.testing.assert_array_equal(report.has_known_word, [True, False, False, True])
  np.testing.assert_array_equal(report.vectors[1:3], np.zeros((2, 6)))
  np.testing.assert_array_equal(report.vectors[3], [2, 2, 2, 2, 2, 2])
  assert report.oov_counts == {"zebra": 3}
  with pytest.raises(captions.CaptionError, match="caption 1: no word of 'zebra'"):
    captions.embed_captions(texts, kv)
  np.testing.assert_array_equal(captions.embed_captions(texts, kv, on_empty="zeros"),
                                report.vectors)


def test_nearest_finds_the_closest_embedding(kv):
  candidates = captions.embed_captions(["a b", "cat", "c 5"], kv)
  ranked = captions.nearest("cat", kv, candidates, k=3)
  assert ranked[0] == (1, pytest.approx(1.0))
  query = captions.embed_caption("cat", kv).vector
  for row, cosine in ranked:
    expected = candidates[row] @ query / (np.linalg.norm(candidates[row]) * np.linalg.norm(query))
    assert cosine == pytest.approx(expected, rel=1e-6)
  assert [c for _, c in ranked] == sorted((c for _, c in ranked), reverse=True)
  with pytest.raises(captions.CaptionError, match=r"\[M, 6\]"):
    captions.nearest("cat", kv, np.zeros((2, 5)))


def test_nearest_labels_skips_unknown_labels(kv):
  ranked = captions.nearest_labels("a", kv, ["zebra", "a c", "cat"], k=2)
  assert [label for label, _ in ranked] == ["a c", "cat"]
  cosine_a_c = np.dot([1, -2, 3, 1, -2, 3], [1, -2, 2, 2, 2, 3]) / (
      np.linalg.norm([1, -2, 3, 1, -2, 3]) * np.linalg.norm([1, -2, 2, 2, 2, 3]))
  assert ranked[0][1] == pytest.approx(cosine_a_c, rel=1e-6)


def test_apostrophe_words_and_their_fallback(kv):
  result = captions.embed_caption("5 o’clock, don't", kv)
  assert result.known_words == ("5", "o'clock", "don't") and result.oov_words == ()
  # 5 = [9, 9, -9], o'clock = [0, 0, 7], don't -> "dont" = [-1, -1, -1].
  np.testing.assert_array_equal(result.vector, [-1, -1, -9, 9, 9, 7])
  np.testing.assert_array_equal(captions.embed_captions(["5 o’clock, don't"], kv)[0],
                                result.vector)
  assert captions.word_index("can't", kv) == -1
