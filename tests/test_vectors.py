"""Word-vector sources: word2vec files (text, binary, header-less), trained fallback, GloVe."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from gensim.models import KeyedVectors

from v2i_jax.text import vectors

WORDS = ["cat", "dog", "red", "bird"]
VALUES = np.array([[1, 2, 3, 4], [-1, 0.5, 2, 8], [0, 0, -3, 1], [7, -7, 0.25, 2]], np.float32)


@pytest.fixture(scope="module")
def toy():
  kv = KeyedVectors(4)
  kv.add_vectors(WORDS, VALUES)
  return kv


def _assert_same(kv, words=WORDS, values=VALUES):
  assert kv.index_to_key == list(words)
  np.testing.assert_allclose(kv.vectors, values, rtol=1e-6)


@pytest.mark.parametrize("name, binary", [
    ("toy.bin", True), ("toy.txt", False), ("toy.bin.gz", True), ("toy.vec.gz", False),
    ("toy-binary.w2v", True), ("toy-text.w2v", False),  # no telling extension: sniffed
])
def test_word2vec_round_trip(tmp_path, toy, name, binary):
  path = str(tmp_path / name)
  toy.save_word2vec_format(path, binary=binary)
  spec = vectors.VectorSource.word2vec(path)
  _assert_same(vectors.load_vectors(spec))
  assert vectors.source_id(spec) == f"word2vec:{name}:{os.path.getsize(path)}:all"


def test_headerless_glove_text(tmp_path):
  path = tmp_path / "glove.toy.txt"
  path.write_text("".join(w + " " + " ".join(map(str, v)) + "\n" for w, v in zip(WORDS, VALUES)))
  _assert_same(vectors.load_vectors(vectors.VectorSource.word2vec(path)))


def test_limit_keeps_the_first_words(tmp_path, toy):
  path = str(tmp_path / "toy.bin")
  toy.save_word2vec_format(path, binary=True)
  spec = vectors.VectorSource.word2vec(path, limit=2)
  _assert_same(vectors.load_vectors(spec), WORDS[:2], VALUES[:2])
  assert vectors.source_id(spec).endswith(":2")


def test_loads_are_cached_per_spec(tmp_path, toy):
  path = str(tmp_path / "toy.txt")
  toy.save_word2vec_format(path, binary=False)
  first = vectors.load_vectors(vectors.VectorSource.word2vec(path))
  assert vectors.load_vectors(vectors.VectorSource.word2vec(path)) is first
  assert first.source_name == "word2vec (toy.txt)"


def test_missing_folder_empty_and_corrupt_files(tmp_path, toy):
  with pytest.raises(vectors.VectorsError, match="no such word-vector file"):
    vectors.load_vectors(vectors.VectorSource.word2vec(tmp_path / "nope.bin"))
  with pytest.raises(vectors.VectorsError, match="is a folder"):
    vectors.load_vectors(vectors.VectorSource.word2vec(tmp_path))
  (tmp_path / "empty.bin").write_bytes(b"")
  with pytest.raises(vectors.VectorsError, match="is empty"):
    vectors.load_vectors(vectors.VectorSource.word2vec(tmp_path / "empty.bin"))
  good = tmp_path / "good.bin"
  toy.save_word2vec_format(str(good), binary=True)
  (tmp_path / "cut.bin").write_bytes(good.read_bytes()[:-10])
  with pytest.raises(vectors.VectorsError, match="cannot read it as a word2vec binary file"):
    vectors.load_vectors(vectors.VectorSource.word2vec(tmp_path / "cut.bin"))
  (tmp_path / "bad.txt").write_text("2 3\ncat 1 2 x\ndog 1 2 3\n")
  with pytest.raises(vectors.VectorsError, match="word2vec text file"):
    vectors.load_vectors(vectors.VectorSource.word2vec(tmp_path / "bad.txt"))
  (tmp_path / "nan.txt").write_text("1 2\ncat nan 1\n")
  with pytest.raises(vectors.VectorsError, match="NaN or Inf"):
    vectors.load_vectors(vectors.VectorSource.word2vec(tmp_path / "nan.txt"))


def test_bad_specs():
  with pytest.raises(vectors.VectorsError, match="unknown word-vector source"):
    vectors.VectorSource(kind="fasttext")
  with pytest.raises(vectors.VectorsError, match="need a path"):
    vectors.VectorSource(kind="word2vec")
  with pytest.raises(vectors.VectorsError, match="positive number of words"):
    vectors.VectorSource.word2vec("x.bin", limit=0)
  with pytest.raises(vectors.VectorsError, match="need the captions"):
    vectors.VectorSource.trained([])


TRAIN_CAPTIONS = ["a red bird on a branch", "a small red bird", "a black cat on a mat",
                  "the cat sleeps", "a dog runs", "the dog and the cat"] * 5


def test_trained_fallback_is_deterministic_across_processes():
  spec = vectors.VectorSource.trained(TRAIN_CAPTIONS, dim=8, seed=3, epochs=2)
  kv = vectors.load_vectors(spec)
  assert kv.vector_size == 8
  assert {"red", "bird", "cat", "dog", "a"} <= set(kv.index_to_key)
  assert np.all(np.isfinite(kv.vectors))
  assert vectors.source_id(spec).startswith("trained:") and ":d8:s3:e2:" in vectors.source_id(spec)
  # Another process, with another str-hash seed, must train the same vectors.
  code = ("import json, sys; from v2i_jax.text import vectors; "
          f"kv = vectors.load_vectors(vectors.VectorSource.trained({TRAIN_CAPTIONS!r}, dim=8, "
          "seed=3, epochs=2)); sys.stdout.write(json.dumps(kv['bird'].tolist()))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout
  np.testing.assert_array_equal(np.array(json.loads(out), np.float32), kv["bird"])
  other_seed = vectors.load_vectors(vectors.VectorSource.trained(TRAIN_CAPTIONS, dim=8, seed=4,
                                                                 epochs=2))
  assert not np.array_equal(other_seed["bird"], kv["bird"])


def test_check_source(tmp_path, toy):
  vectors.check_source("glove-6b-50d", vectors.VectorSource.glove50())
  with pytest.raises(vectors.VectorsError, match="trained on word vectors 'glove-6b-50d'"):
    path = str(tmp_path / "toy.bin")
    toy.save_word2vec_format(path, binary=True)
    vectors.check_source("glove-6b-50d", vectors.VectorSource.word2vec(path))


def test_glove50_default_loads():  # ~1 s
  kv = vectors.load_vectors()
  assert len(kv.index_to_key) == 400_000 and kv.vector_size == 50
  assert kv.vectors.shape == (400_000, 50) and kv.vectors.dtype == np.float32
  assert kv.key_to_index["cat"] == kv.index_to_key.index("cat")
  assert kv.most_similar("cat", topn=1)[0][0] == "dog"
  assert vectors.source_id(vectors.VectorSource.glove50()) == "glove-6b-50d"
  assert vectors.vectors_info(kv) == {"vocabulary_size": 400_000, "dim": 50, "embedding_dim": 100}


def test_freeze_writes_vectors_that_load_back(tmp_path):
  spec = vectors.VectorSource.trained(TRAIN_CAPTIONS, dim=8, seed=3, epochs=2)
  frozen = vectors.freeze(spec, tmp_path / "model" / "vectors.bin")
  assert frozen.kind == "word2vec" and vectors.source_id(frozen).startswith("word2vec:vectors.bin:")
  trained, loaded = vectors.load_vectors(spec), vectors.load_vectors(frozen)
  assert loaded.index_to_key == trained.index_to_key
  np.testing.assert_array_equal(loaded.vectors, trained.vectors)


def test_parse_source(tmp_path):
  assert vectors.parse_source("glove50") == vectors.VectorSource.glove50()
  path = str(tmp_path / "w2v.bin")
  assert vectors.parse_source(f"word2vec:{path}") == vectors.VectorSource.word2vec(path)
  assert vectors.parse_source(f"word2vec:{path}@500000") == vectors.VectorSource.word2vec(
      path, limit=500000)
  assert vectors.parse_source("trained", ["a cat"]) == vectors.VectorSource.trained(["a cat"])
  with pytest.raises(vectors.VectorsError, match="captions"):
    vectors.parse_source("trained")
  for bad in ("glove", "word2vec:", "glove50:x", "fasttext:x.bin"):
    with pytest.raises(vectors.VectorsError, match="use 'glove50'"):
      vectors.parse_source(bad)


def test_spec_for_finds_glove_and_asks_for_other_files(tmp_path):
  assert vectors.spec_for(vectors.GLOVE50_ID) == vectors.VectorSource.glove50()
  with pytest.raises(vectors.VectorsError, match="--vectors=word2vec"):
    vectors.spec_for("word2vec:GoogleNews.bin:123:all")
  small = tmp_path / "small.txt"
  small.write_text("1 2\ncat 1 0\n")
  stored = vectors.source_id(vectors.VectorSource.word2vec(small))
  assert vectors.spec_for(stored, f"word2vec:{small}").path == str(small)
  with pytest.raises(vectors.VectorsError, match="trained on word vectors"):
    vectors.spec_for(vectors.GLOVE50_ID, f"word2vec:{small}")
