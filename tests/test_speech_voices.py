"""Generated espeak-ng voice variants: reproducible, distinct, and spoken by the engine."""

import json
import os

import numpy as np
import pytest

from configs import speech_data_tiny
from v2i_jax.speech import synth, voices


def test_variant_text_is_a_function_of_the_name():
  names = voices.generated_names(20, seed=3)
  assert names[0] == "v2i-3-0000" and all(voices.is_generated(n) for n in names)
  texts = [voices.variant_text(n) for n in names]
  assert texts == [voices.variant_text(n) for n in names]  # Same name, same voice.
  assert len(set(texts)) == 20
  assert voices.variant_text("v2i-3-0000") != voices.variant_text("v2i-4-0000")
  for text in texts:
    assert text.startswith("language variant\n") and "klatt" not in text
    assert sum(line.startswith("formant ") for line in text.splitlines()) == 9
  assert not voices.is_generated("m3") and not voices.is_generated("v2i-x-1")
  with pytest.raises(ValueError, match="not a generated variant"):
    voices.variant_text("m3")


def _spectrum(x):
  """Long-term average log spectrum (the voice's timbre, whatever the timing)."""
  frames = np.lib.stride_tricks.sliding_window_view(x, 512)[::256] * np.hanning(512)
  return np.log(np.abs(np.fft.rfft(frames, axis=-1)).mean(0) + 1e-6)


def test_a_generated_variant_changes_the_voice():
  speaker = synth.Speaker("en-us", "m3", 50, 170)
  shipped = _spectrum(synth.synthesize("seven", speaker))
  again = _spectrum(synth.synthesize("seven", speaker))  # espeak-ng repeats with small changes.
  for name in voices.generated_names(3, seed=0):
    x = synth.synthesize("seven", synth.Speaker("en-us", name, 50, 170))
    assert x.size > 0.2 * 16000 and np.abs(x).max() > 0.05
    assert np.abs(_spectrum(x) - shipped).mean() > 3 * np.abs(again - shipped).mean()


def test_build_deals_generated_variants_to_speakers(tmp_path):
  config = speech_data_tiny.get_config()
  config.generated_variants = 400
  config.generated_variant_seed = 5
  summary = synth.build_dataset(str(tmp_path / "speech"), config, progress=False)
  with open(os.path.join(summary["out_dir"], synth.INFO_FILE)) as f:
    info = json.load(f)
  variants = [s["variant"] for s in info["speakers"]]
  assert sum(v.startswith("v2i-5-") for v in variants) >= len(variants) // 2
