r"""Text side timings: GloVe load time, caption embedding throughput, GAN batch throughput.

  python benchmarks/text_embed.py                       # defaults below
  python benchmarks/text_embed.py --captions=155000 --launches=5 --json=/tmp/text_embed.json

- GloVe load: ``load_vectors()`` in ``--launches`` fresh processes (the per-process cost; the
  import of gensim is timed apart), median and range, and the CPU time it took.
- Captions/s: ``embed_captions`` (vectorised) and ``embed_caption`` one at a time, on synthetic
  flickr-like captions (5-15 words drawn from GloVe's 20k most frequent words, some punctuation
  and one out-of-vocabulary word in ten), median of ``--repeats``.
- GAN input: ``GanInput`` set-up and ``batch(step)`` (numpy, batch 64, 64x64 images) on a data
  set of captions/5 images with 5 captions each.
The machine is shared: the load average is printed beside the numbers, and CPU-time figures
(less sensitive to other processes than wall time) beside the wall-time ones.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags
import numpy as np

from v2i_jax.text import captions as captions_lib
from v2i_jax.text import gan_input
from v2i_jax.text import vectors
from v2i_jax.text.types import CaptionedImages

_CAPTIONS = flags.DEFINE_integer("captions", 50_000, "Synthetic captions to embed.")
_LAUNCHES = flags.DEFINE_integer("launches", 3, "Fresh processes for the GloVe load time.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Repeats of each in-process timing.")
_JSON = flags.DEFINE_string("json", None, "Also write the numbers to this JSON file.")

_LOAD_ONE = """
import json, time
t0 = time.perf_counter()
from v2i_jax.text import vectors
t1, c1 = time.perf_counter(), time.process_time()
kv = vectors.load_vectors()
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "load_cpu_s": c2 - c1,
                  "words": len(kv.index_to_key)}))
"""


def _glove_load_times(launches):
  runs = []
  for _ in range(launches):
    out = subprocess.run([sys.executable, "-c", _LOAD_ONE], capture_output=True, text=True,
                         check=True).stdout
    runs.append(json.loads(out.strip().splitlines()[-1]))
  return runs


def _synthetic_captions(kv, n, rng):
  common = kv.index_to_key[:20_000]
  words = np.array([w for w in common if w.isalpha()])
  out = []
  for _ in range(n):
    caption = list(rng.choice(words, rng.integers(5, 16)))
    if rng.random() < 0.1:
      caption.insert(int(rng.integers(len(caption))), "xqzv" + str(rng.integers(1000)))
    caption[0] = caption[0].capitalize()
    out.append(" ".join(caption) + rng.choice([".", "", " !", ","]))
  return out


def _median_seconds(fn, repeats, clock=time.perf_counter):
  times = []
  for _ in range(repeats):
    start = clock()
    fn()
    times.append(clock() - start)
  return statistics.median(times)


def main(argv):
  del argv
  results = {"loadavg_start": os.getloadavg(), "cpus": os.cpu_count()}
  runs = _glove_load_times(_LAUNCHES.value)
  loads = [r["load_s"] for r in runs]
  results["glove_load_s"] = {"median": statistics.median(loads), "min": min(loads),
                             "max": max(loads), "runs": loads}
  results["glove_load_cpu_s_median"] = statistics.median(r["load_cpu_s"] for r in runs)
  results["import_s_median"] = statistics.median(r["import_s"] for r in runs)
  print(f"GloVe 6B 50-d load ({runs[0]['words']} words), {len(loads)} fresh processes: median "
        f"{statistics.median(loads):.2f} s (min {min(loads):.2f}, max {max(loads):.2f}; CPU time "
        f"{results['glove_load_cpu_s_median']:.2f} s); import of the text modules "
        f"{results['import_s_median']:.2f} s")

  kv = vectors.load_vectors()
  rng = np.random.default_rng(0)
  texts = _synthetic_captions(kv, _CAPTIONS.value, rng)
  seconds = _median_seconds(lambda: captions_lib.embed_captions(texts, kv), _REPEATS.value)
  results["embed_captions_per_s"] = len(texts) / seconds
  cpu_seconds = _median_seconds(lambda: captions_lib.embed_captions(texts, kv), _REPEATS.value,
                                time.process_time)
  results["embed_captions_per_cpu_s"] = len(texts) / cpu_seconds
  tokenize_s = _median_seconds(lambda: [captions_lib.tokenize(t) for t in texts], _REPEATS.value)
  results["tokenize_captions_per_s"] = len(texts) / tokenize_s
  few = texts[:5000]
  one_s = _median_seconds(lambda: [captions_lib.embed_caption(t, kv) for t in few], _REPEATS.value)
  results["embed_caption_loop_per_s"] = len(few) / one_s
  print(f"embed_captions (vectorised), {len(texts)} captions: "
        f"{results['embed_captions_per_s']:,.0f} captions/s "
        f"({results['embed_captions_per_cpu_s']:,.0f} per CPU-second) "
        f"(tokenising alone: {results['tokenize_captions_per_s']:,.0f}/s); "
        f"embed_caption one at a time: {results['embed_caption_loop_per_s']:,.0f} captions/s")

  num_images = max(_CAPTIONS.value // 5, 64)
  data = CaptionedImages(
      rng.integers(0, 256, (num_images, 64, 64, 3), dtype=np.uint8),
      [[texts[(5 * i + j) % len(texts)] for j in range(5)] for i in range(num_images)])
  start = time.perf_counter()
  embeddings = gan_input.embed_dataset(data)
  results["embed_dataset_s"] = time.perf_counter() - start
  start = time.perf_counter()
  pipeline = gan_input.GanInput(data, embeddings, batch_size=64, seed=0)
  results["gan_input_setup_s"] = time.perf_counter() - start
  steps = 200
  batch_s = _median_seconds(lambda: [pipeline.batch(s) for s in range(steps)], _REPEATS.value)
  results["gan_batches_per_s"] = steps / batch_s
  print(f"GAN input on {num_images} images x 5 captions: embed {results['embed_dataset_s']:.2f} s, "
        f"set-up {results['gan_input_setup_s']:.2f} s, {results['gan_batches_per_s']:,.0f} "
        f"batches/s of 64 ({64 * results['gan_batches_per_s']:,.0f} images/s)")

  results["loadavg_end"] = os.getloadavg()
  print(f"load average at start {results['loadavg_start'][0]:.2f}, at end "
        f"{results['loadavg_end'][0]:.2f} on {results['cpus']} CPUs (shared machine: noisy)")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(results, f, indent=2)


if __name__ == "__main__":
  app.run(main)
