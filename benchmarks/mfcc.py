r"""MFCC throughput and agreement: librosa one clip at a time vs the jitted JAX batch function.

  python benchmarks/mfcc.py                                   # every preset, defaults below
  python benchmarks/mfcc.py --presets=modern --clips=2048 --batch_sizes=1,64,512 \
      --json=/tmp/mfcc.json

- Clips: 1 s of espeak-ng speech (``v2i_jax.speech.synth``: a keyword spoken by a random
  synthetic speaker), or speech-like harmonic signals when the synthesiser is not available;
  ``--clips`` of them (distinct up to 256, then repeated).
- librosa: ``features.mfcc_librosa`` per clip (resampling included for the 22050 Hz presets),
  after a warm-up call so numba's compile time is excluded; ``--librosa_clips`` clips.
- JAX: ``features.make_mfcc_fn`` on batches of each ``--batch_sizes``, the numpy -> device copy
  and the result's copy back included, compile time reported apart.
- librosa's mel product is a small BLAS matmul; OpenBLAS's thread pool makes it ~100x slower
  on a busy machine (measured: 23 ms vs 0.13 ms), so this script pins numpy to one BLAS thread
  (``OPENBLAS_NUM_THREADS=1`` unless set), the fastest setting for one clip at a time.
- Max abs diff: largest |JAX - librosa| over the librosa clips (the tolerance the tests assert is
  ``features.MAX_ABS_DIFF``).
Every timing is the median of ``--repeats``. The machine may be shared: the load average and the
device are printed beside the numbers. TensorFlow is not needed.
"""

import json
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # Before numpy loads OpenBLAS; see above.

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags
import jax  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

# Run as a script from anywhere: the repository root holds the configs package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from v2i_jax.training import cpu  # pylint: disable=wrong-import-position
from configs import mfcc_presets  # pylint: disable=g-import-not-at-top,wrong-import-position
from v2i_jax import audio  # pylint: disable=wrong-import-position
from v2i_jax.speech import features  # pylint: disable=wrong-import-position

PRESETS = ("paper", "original_code", "modern")
_PRESETS = flags.DEFINE_list("presets", list(PRESETS), f"Any of {PRESETS}.")
_CLIPS = flags.DEFINE_integer("clips", 1024, "Clips for the JAX timings.")
_LIBROSA_CLIPS = flags.DEFINE_integer("librosa_clips", 128, "Clips for the librosa timing.")
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "32", "256"], "JAX batch sizes.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Repeats of each timing (the median is shown).")
_JSON = flags.DEFINE_string("json", None, "Also write the numbers to this JSON file.")

_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "cat", "dog",
          "house", "seven", "marvin", "happy")


def _clips(n: int, seed: int = 0) -> tuple[np.ndarray, str]:
  distinct = min(n, 256)
  try:
    from v2i_jax.speech import synth  # pylint: disable=g-import-not-at-top
    speakers = synth.sample_speakers(distinct, seed=seed)
    x = np.stack([audio.fit_length(synth.synthesize(_WORDS[i % len(_WORDS)], s, max_seconds=1.0))
                  for i, s in enumerate(speakers)])
    source = "espeak-ng speech"
  except ImportError:
    x = np.stack([_speech_like(np.random.default_rng([seed, i])) for i in range(distinct)])
    source = "speech-like harmonic signals"
  return np.resize(x, (n, audio.SAMPLE_RATE)).astype(np.float32), source


def _speech_like(rng: np.random.Generator) -> np.ndarray:
  """A voiced syllable: harmonics of a wavering F0 under an envelope, plus a noise floor."""
  t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
  start = rng.uniform(0.0, 0.5)
  envelope = np.clip((t - start) / 0.04, 0, 1) * np.clip((start + 0.45 - t) / 0.08, 0, 1)
  phase = 2 * np.pi * np.cumsum(rng.uniform(90, 250) * (1 + 0.1 * np.sin(6 * t))) / audio.SAMPLE_RATE
  x = sum(np.sin(k * phase) / k for k in range(1, 30)) * envelope
  return 0.5 * x / np.abs(x).max() + 3e-4 * rng.standard_normal(t.size)


def _timed(fn, repeats: int):
  """``(median seconds, fn's last result)`` over ``repeats`` calls."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times), out


def _bench_preset(name: str, clips: np.ndarray, batch_sizes: list[int], librosa_clips: int,
                  repeats: int) -> dict:
  cfg = features.MfccConfig.from_any(getattr(mfcc_presets, name)())
  reference_clips = clips[:librosa_clips]
  features.mfcc_librosa(reference_clips[0], cfg)  # numba / FFT plan warm-up.
  librosa_s, reference = _timed(
      lambda: np.stack([features.mfcc_librosa(c, cfg) for c in reference_clips]), repeats)
  result = {"preset": name, "shape": list(cfg.feature_shape),
            "librosa_clips_per_s": len(reference_clips) / librosa_s, "jax": {}}
  mfcc_fn = features.make_mfcc_fn(cfg)
  for batch_size in batch_sizes:
    usable = len(clips) // batch_size * batch_size
    batches = clips[:usable].reshape(-1, batch_size, clips.shape[-1])
    start = time.perf_counter()
    np.asarray(mfcc_fn(batches[0]))
    compile_s = time.perf_counter() - start
    seconds, _ = _timed(lambda: [np.asarray(mfcc_fn(b)) for b in batches], repeats)  # pylint: disable=cell-var-from-loop
    result["jax"][str(batch_size)] = {"clips_per_s": usable / seconds,
                                      "first_call_s": compile_s}
  jax_out = np.concatenate([np.asarray(mfcc_fn(reference_clips[i:i + batch_sizes[-1]]))
                            for i in range(0, len(reference_clips), batch_sizes[-1])])
  result["max_abs_diff"] = float(np.abs(jax_out - reference).max())
  result["feature_range"] = [float(np.min(reference)), float(np.max(reference))]
  return result


def main(argv):
  if len(argv) > 1:
    sys.exit(f"error: unexpected arguments {argv[1:]}; pass options as --flag=value.")
  unknown = sorted(set(_PRESETS.value) - set(PRESETS))
  if unknown:
    sys.exit(f"error: unknown presets {unknown}; use any of {PRESETS}.")
  try:
    batch_sizes = [int(b) for b in _BATCH_SIZES.value]
  except ValueError:
    sys.exit(f"error: --batch_sizes must be integers, got {_BATCH_SIZES.value}.")
  if min(batch_sizes) < 1 or _CLIPS.value < max(batch_sizes) or _LIBROSA_CLIPS.value < 1:
    sys.exit("error: need batch sizes >= 1, --clips >= the largest batch size and "
             "--librosa_clips >= 1.")
  clips, source = _clips(_CLIPS.value)
  device = f"{jax.devices()[0].device_kind} ({jax.default_backend()}; CPU {cpu.describe()})"
  results = [_bench_preset(name, clips, batch_sizes, min(_LIBROSA_CLIPS.value, len(clips)),
                           _REPEATS.value) for name in _PRESETS.value]
  load = os.getloadavg()
  print(f"\nclips: {source}; device: {device}; load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}; OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}; "
        f"median of {_REPEATS.value}\n")
  jax_columns = " | ".join(f"JAX B={b} clips/s" for b in batch_sizes)
  print(f"| preset | frames x coeffs | librosa clips/s | {jax_columns} | best speed-up | "
        "max abs diff |")
  print("|---" * (5 + len(batch_sizes)) + "|")
  for r in results:
    jax_rates = [r["jax"][str(b)]["clips_per_s"] for b in batch_sizes]
    print(f"| {r['preset']} | {r['shape'][0]} x {r['shape'][1]} | "
          f"{r['librosa_clips_per_s']:,.0f} | " + " | ".join(f"{v:,.0f}" for v in jax_rates) +
          f" | {max(jax_rates) / r['librosa_clips_per_s']:.0f}x | {r['max_abs_diff']:.1e} |")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump({"clips": source, "device": device, "load_average": load,
                 "openblas_num_threads": os.environ["OPENBLAS_NUM_THREADS"],
                 "repeats": _REPEATS.value, "results": results}, f, indent=2)


if __name__ == "__main__":
  app.run(main)
