"""The Flax speech embedding equals its TFLite original; its reader, config and front-end wiring."""

import os

import jax.numpy as jnp
import numpy as np
import pytest

from v2i_jax.speech import embedding
from v2i_jax.speech import features
from v2i_jax.speech import synth
from v2i_jax.speech import tflite

# Float32 summation order differs from TFLite's kernels; embeddings span about +-50.
MEL_TOLERANCE = 1e-4
EMBEDDING_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def speech():
  """A few words by two espeak-ng voices at different levels, 1.5 s, 16 kHz, in [-1, 1]."""
  clips = []
  for word, speaker, level in (("happy", synth.sample_speakers(1, 0)[0], 0.5),
                               ("seven", synth.sample_speakers(1, 3)[0], 0.05)):
    x = synth.synthesize(word, speaker)
    x = np.pad(x, (3000, 24000 - 3000 - x.size))
    clips.append((level * x / np.abs(x).max()).astype(np.float32))
  return np.stack(clips)


@pytest.fixture(scope="module")
def interpreters():
  import tensorflow as tf  # The TFLite reference runs only here, in the tests.
  paths = embedding.model_files()
  return tf.lite.Interpreter(model_path=paths["mel"]), tf.lite.Interpreter(
      model_path=paths["embedding"])


def _run(interpreter, x):
  interpreter.resize_tensor_input(0, list(x.shape))
  interpreter.allocate_tensors()
  interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.astype(np.float32))
  interpreter.invoke()
  return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_flax_front_end_equals_tflite_on_speech(speech, interpreters):
  mel_model, embedding_model = interpreters
  weights = embedding.load_weights()
  ours_mel = np.asarray(embedding.log_mel(jnp.asarray(speech), weights))
  ours = np.asarray(embedding.SpeechEmbedding().apply(embedding.embedding_params(weights),
                                                      jnp.asarray(ours_mel)))
  for clip, mel, emb in zip(speech, ours_mel, ours):
    # openWakeWord's own use: int16-scale samples, one clip per call, then x / 10 + 2.
    ref_mel = _run(mel_model, clip[None] * embedding.INT16_SCALE)[0, 0] / 10 + 2
    assert mel.shape == ref_mel.shape == (147, embedding.NUM_MELS)
    np.testing.assert_allclose(mel, ref_mel, atol=MEL_TOLERANCE)
    starts = range(0, len(ref_mel) - embedding.WINDOW_FRAMES + 1, embedding.WINDOW_STEP)
    windows = np.stack([ref_mel[s:s + embedding.WINDOW_FRAMES] for s in starts])
    ref = _run(embedding_model, windows[..., None]).reshape(len(windows), embedding.EMBEDDING_DIM)
    assert emb.shape == ref.shape == (9, embedding.EMBEDDING_DIM)
    assert np.abs(ref).max() > 1.0  # Real activations, not a degenerate all-zero output.
    np.testing.assert_allclose(emb, ref, atol=EMBEDDING_TOLERANCE)


def test_front_end_function_pads_and_matches_config_shape(speech):
  cfg = features.front_end_from_any({"kind": "speech_embedding", "clip_samples": 16000,
                                     "context_samples": 4000})
  assert isinstance(cfg, embedding.EmbeddingConfig)
  fn = features.make_feature_fn(cfg)
  clips = speech[:, 4000:20000]  # 1 s each; the function adds 0.25 s of silence both sides.
  out = np.asarray(fn(clips))
  assert out.shape == (2,) + cfg.feature_shape == (2, 9, 96)
  direct = embedding.SpeechEmbedding().apply(
      embedding.embedding_params(embedding.load_weights()),
      embedding.log_mel(jnp.pad(jnp.asarray(clips), ((0, 0), (4000, 4000))),
                        embedding.load_weights()))
  np.testing.assert_allclose(out, np.asarray(direct), atol=EMBEDDING_TOLERANCE)  # jit vs not
  assert isinstance(features.front_end_from_any({"n_mfcc": 10, "n_mels": 40}),
                    features.MfccConfig)


def test_weights_cache_round_trip(tmp_path):
  embedding.load_weights.cache_clear()
  try:
    first = embedding.load_weights(str(tmp_path))
    (cached,) = os.listdir(tmp_path)
    assert cached.startswith("weights-") and cached.endswith(".npz")
    embedding.load_weights.cache_clear()
    again = embedding.load_weights(str(tmp_path))
  finally:
    embedding.load_weights.cache_clear()
  assert sorted(first) == sorted(again)
  assert len([k for k in first if k.endswith("_kernel")]) == 20
  for k in first:
    np.testing.assert_array_equal(first[k], again[k])


def test_reader_refuses_other_files_and_bad_configs(tmp_path):
  bogus = tmp_path / "model.tflite"
  bogus.write_bytes(b"\x00" * 64)
  with pytest.raises(tflite.TfliteError, match="not a TensorFlow Lite model"):
    tflite.read(str(bogus))
  with pytest.raises(ValueError, match="raise context_samples"):
    embedding.EmbeddingConfig(clip_samples=8000, context_samples=0)
  with pytest.raises(ValueError, match="unknown speech-embedding config fields"):
    features.front_end_from_any({"kind": "speech_embedding", "contxt_samples": 10})
  with pytest.raises(ValueError, match="unknown front end kind 'speech_embeding'"):
    features.front_end_from_any({"kind": "speech_embeding"})
