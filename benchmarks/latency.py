r"""Voice -> image latency per stage, after warm-up, with trained models.

  python benchmarks/latency.py --kws_workdir runs/quickstart/kws --gan_workdir runs/quickstart/gan

Two inputs: a 1 s clip with one word and a ~3 s clip with three words (espeak-ng voices the
keyword model never heard, written to a temporary folder). Stages: decode (read + check the wav),
segment (energy-based word spans), MFCC (the recogniser's jitted front end, timed on its own for
reference), classify (MFCC + classifier, one jitted call per batch of segments), embed ([min, max]
caption embedding), generate (G for --num_images pictures) and total (the Pipeline from file to
pictures). Median of --repeats after --warmup calls; the load average is printed beside it.
"""

import json
import os
import statistics
import sys
import tempfile
import time

# Run as a script from anywhere: the repository root holds the launch package.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from v2i_jax.training import cpu  # pylint: disable=wrong-import-position

from v2i_jax.image import layers  # pylint: disable=wrong-import-position

os.environ["XLA_FLAGS"] = layers.with_fast_cpu_flag(os.environ.get("XLA_FLAGS", ""))

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np

_KWS = flags.DEFINE_string("kws_workdir", "runs/quickstart/kws", "Keyword model workdir.")
_GAN = flags.DEFINE_string("gan_workdir", "runs/quickstart/gan", "GAN workdir.")
_NUM = flags.DEFINE_integer("num_images", 1, "Pictures per request.")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls (the median is shown).")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed calls first (compilation).")
_JSON = flags.DEFINE_string("json", None, "Also write the numbers to this JSON file.")


def _median_ms(fn, repeats, warmup):
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return 1000 * statistics.median(times)


def main(argv):
  del argv
  from v2i_jax import audio
  from v2i_jax import pipeline as pipeline_lib
  from v2i_jax.speech import features
  from v2i_jax.speech import recognizer as recognizer_lib
  from v2i_jax.text import captions
  from v2i_jax.speech import synth

  pipe = pipeline_lib.Pipeline.restore(_KWS.value, _GAN.value)
  rec = pipe.recognizer
  mfcc_fn = features.make_feature_fn(rec.mfcc_cfg)
  phrases = {"1 word (1 s)": "cat", "3 words": "happy dog house"}
  rows = {}
  voices = synth.unheard_speakers(_training_data_dir(rec), len(phrases), seed=77)
  with tempfile.TemporaryDirectory() as tmp:
    for (name, phrase), speaker in zip(phrases.items(), voices):
      x = synth.speak_phrase(phrase.split(), speaker)
      path = os.path.join(tmp, "clip.wav")
      if name.startswith("1 word"):  # exactly one second, like a Speech Commands clip
        x = audio.fit_length(x, audio.SAMPLE_RATE)
      audio.write_wav(path, x)
      x = audio.load_audio(path)
      spans = recognizer_lib.speech_spans(x)
      clips = np.stack([audio.fit_length(rec._centre_on_energy(x[a:b]), rec.mfcc_cfg.clip_samples)
                        for a, b in spans])
      padded = np.zeros((max(recognizer_lib.MIN_BATCH, len(clips)), clips.shape[1]), np.float32)
      padded[:len(clips)] = clips
      result = pipe(x, audio.SAMPLE_RATE, num_images=_NUM.value)
      r, w = _REPEATS.value, _WARMUP.value
      stages = {
          "decode": _median_ms(lambda: audio.load_audio(path), r, w),
          "segment": _median_ms(lambda: recognizer_lib.speech_spans(x), r, w),
          "features": _median_ms(lambda: mfcc_fn(padded).block_until_ready(), r, w),
          "classify": _median_ms(lambda: rec.probabilities(clips), r, w),
          "embed": _median_ms(lambda: captions.embed_caption(result.caption, pipe.vectors), r, w),
          "generate": _median_ms(
              lambda: pipe.painter.paint(np.zeros(pipe.painter.embedding_dim), _NUM.value, 0),
              r, w),
          "total": _median_ms(lambda: pipe(audio.load_audio(path), audio.SAMPLE_RATE,
                                           num_images=_NUM.value), r, w),
      }
      rows[name] = {"heard": result.caption, "seconds_of_audio": round(x.size / 16000, 2),
                    **{k: round(v, 2) for k, v in stages.items()}}
  load = os.getloadavg()[0]
  print(f"CPU: {cpu.describe()}")
  print(f"latency in ms (median of {_REPEATS.value}), {_NUM.value} image(s), load average "
        f"{load:.1f}")
  keys = ["decode", "segment", "features", "classify", "embed", "generate", "total"]
  print("| input | heard | " + " | ".join(keys) + " |")
  print("|---|---|" + "---|" * len(keys))
  for name, row in rows.items():
    print(f"| {name} | {row['heard']} | " + " | ".join(f"{row[k]:.2f}" for k in keys) + " |")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump({"load_average": load, "cpu": cpu.describe(), "num_images": _NUM.value,
                 "rows": rows}, f, indent=1)


def _training_data_dir(rec):
  """The keyword model's training data folder (so the benchmark voices are new to it)."""
  from v2i_jax.training import checkpoint
  from v2i_jax.speech import train
  with checkpoint.Checkpointer(os.path.join(rec.workdir, train.CHECKPOINT_DIR),
                               create=False) as ckpt:
    return ckpt.restore_meta()["config"]["data_dir"]


if __name__ == "__main__":
  app.run(main)
