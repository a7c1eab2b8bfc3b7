r"""The main job, from a fresh clone to pictures: speak a word, get a picture.

  python -m launch.quickstart --workdir runs/quickstart

1. builds the offline speech data set (espeak-ng voices, Speech Commands layout), the
   out-of-distribution keyword yardstick (held-out voices through simulated rooms and devices),
   and the keyword model's features (the speech embedding by default);
2. builds the emoji image-caption data set;
3. trains the keyword classifier (--kws_config) and the GAN (--gan_config);
4. speaks --phrases with voices the keyword model never heard, and writes for each phrase
   <workdir>/phrases/<phrase>.wav, .png (the pictures) and _summary.png (waveform, MFCC,
   recognised words, pictures).
Every step skips work already done (data built with the same config, a finished training), so a
rerun, or a run after a crash, goes on where it stopped.
"""

import os

# XLA reads its flags when JAX starts its backend: add the fast-CPU conv flag before any JAX work.
# (No host_memory.keep_freed_memory() here, unlike launch.train_gan: its one malloc arena slows
# the keyword training's tf.data threads, 54-62 s -> 71-97 s measured.)
from v2i_jax.image import layers  # Imports jax but does not start the backend.

os.environ["XLA_FLAGS"] = layers.with_fast_cpu_flag(os.environ.get("XLA_FLAGS", ""))

# pylint: disable=g-import-not-at-top,wrong-import-position
import json
import time

from absl import app
from absl import flags
from absl import logging

from launch import cli

cli.define_config_file("speech_data", "configs/speech_data.py", "Speech data config.")
cli.define_config_file("speech_data_ood", "configs/speech_data_ood.py",
                       "The out-of-distribution keyword yardstick's data config.")
cli.define_config_file("image_data", "configs/image_data.py", "Image data config.")
cli.define_config_file("kws_config", "configs/kws_embed.py", "Keyword model config.")
cli.define_config_file("gan_config", "configs/gan_quick.py", "GAN config.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/quickstart", "Where models and pictures go.")
_PHRASES = flags.DEFINE_list("phrases", ["cat", "house", "bird", "happy dog"],
                             "Phrases to speak (words of the keyword model's vocabulary).")
_NUM = flags.DEFINE_integer("num_images", 8, "Pictures per phrase.", lower_bound=1)
_STOP_AFTER = flags.DEFINE_enum("stop_after", "phrases", ["data", "kws", "gan", "phrases"],
                                "Stop after this step.")


def _step(name: str):
  print(f"\n=== {name}", flush=True)
  return time.perf_counter()


def speak_phrases(phrases, words, data_dir, out_dir, seed=2026):
  """Speaks each phrase with its own voice, one the data set's speakers never used, into
  ``out_dir/<phrase>.wav``. Returns ``[(phrase, wav path, speaker)]``."""
  from v2i_jax import audio
  from v2i_jax.speech import synth
  for phrase in phrases:
    unknown = [w for w in phrase.split() if w not in words]
    if unknown:
      raise ValueError(f"phrase {phrase!r} has words the keyword model does not know: "
                       f"{unknown}; use words of {', '.join(words)}.")
  os.makedirs(out_dir, exist_ok=True)
  out = []
  for phrase, speaker in zip(phrases, synth.unheard_speakers(data_dir, len(phrases), seed)):
    path = os.path.join(out_dir, phrase.replace(" ", "_") + ".wav")
    audio.write_wav(path, synth.speak_phrase(phrase.split(), speaker))
    out.append((phrase, path, speaker))
  return out


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments.
  logging.set_verbosity(logging.WARNING)
  FLAGS = flags.FLAGS
  workdir = _WORKDIR.value
  timings = {}
  start_all = time.perf_counter()
  from v2i_jax import errors

  try:
    from v2i_jax.speech import synth
    t = _step("1/6 speech data (espeak-ng voices, Speech Commands layout)")
    summary = synth.build_dataset(FLAGS.speech_data.out_dir, FLAGS.speech_data, progress=True)
    print(f"{summary['clips']} clips, speakers per split {summary['speakers_per_split']}")
    ood = synth.build_dataset(FLAGS.speech_data_ood.out_dir, FLAGS.speech_data_ood, progress=True)
    print(f"out-of-distribution yardstick: {ood['clips']} clips in {ood['out_dir']}")
    kws_config = FLAGS.kws_config
    if os.path.abspath(kws_config.data_dir) != os.path.abspath(FLAGS.speech_data.out_dir):
      raise ValueError(f"the keyword config reads {kws_config.data_dir} but the speech data is "
                       f"built in {FLAGS.speech_data.out_dir}; make them the same folder.")
    timings["speech_data"] = time.perf_counter() - t

    t = _step("2/6 keyword features (cached by front-end config and file list)")
    from v2i_jax.speech import train as kws_train
    features = kws_train.load_data(kws_config)
    print(f"features {features.splits['train'][0].shape[1:]} per clip, cache {features.cache_path}")
    timings["features"] = time.perf_counter() - t

    t = _step("3/6 image-caption data (emoji artwork, captions)")
    from v2i_jax.image import data as image_data
    _, seconds = image_data.prepare_emoji_dataset(FLAGS.image_data)
    print("already built" if not seconds else f"built in {seconds:.0f} s")
    timings["image_data"] = time.perf_counter() - t
    if _STOP_AFTER.value == "data":
      return _finish(timings, start_all, workdir)

    t = _step("4/6 keyword classifier")
    kws_dir = os.path.join(workdir, "kws")
    results = kws_train.train_and_evaluate(kws_config, kws_dir, data=features)
    print(f"test accuracy {results['test']['accuracy']:.4f} (speakers of the training voices "
          "never heard in training)")
    if results.get("out_of_distribution"):
      print(f"out-of-distribution accuracy {results['out_of_distribution']['accuracy']:.4f} "
            "(voice families never heard, through simulated rooms, microphones and noise)")
    timings["kws_train"] = time.perf_counter() - t
    if _STOP_AFTER.value == "kws":
      return _finish(timings, start_all, workdir)

    t = _step("5/6 conditional GAN")
    from v2i_jax.image import train as gan_train
    gan_dir = os.path.join(workdir, "gan")
    gan_train.train_and_evaluate(FLAGS.gan_config, gan_dir)
    timings["gan_train"] = time.perf_counter() - t
    if _STOP_AFTER.value == "gan":
      return _finish(timings, start_all, workdir)

    t = _step("6/6 voice -> image")
    from v2i_jax import audio
    from v2i_jax import pipeline as pipeline_lib
    pipe = pipeline_lib.Pipeline.restore(kws_dir, gan_dir)
    phrase_dir = os.path.join(workdir, "phrases")
    spoken = speak_phrases(_PHRASES.value, pipe.recognizer.keywords, kws_config.data_dir,
                           phrase_dir)
    correct = 0
    for phrase, path, speaker in spoken:
      waveform = audio.load_audio(path)
      result = pipe(waveform, audio.SAMPLE_RATE, num_images=_NUM.value, seed=0)
      stem = os.path.splitext(path)[0]
      pipeline_lib.save_grid(stem + ".png", result.images)
      pipeline_lib.save_summary_figure(
          stem + "_summary.png", result, waveform=waveform,
          mfcc=pipeline_lib.mfcc_of(pipe.recognizer, waveform),
          title=f'said "{phrase}" ({speaker.voice}, pitch {speaker.pitch}) -> '
                f'heard "{result.caption}"')
      heard = " ".join(s.word for s in result.words)
      correct += heard == phrase
      print(json.dumps({"said": phrase, "heard": heard,
                        "words": [pipeline_lib.segment_dict(s) for s in result.words],
                        "pictures": stem + ".png", "summary": stem + "_summary.png"}))
    print(f"phrases recognised exactly: {correct} of {len(spoken)}")
    timings["voice_to_image"] = time.perf_counter() - t
  except (errors.USER_ERRORS + (ValueError, OSError)) as e:
    cli.exit_with_error(e, workdir)
  return _finish(timings, start_all, workdir)


def _finish(timings, start_all, workdir):
  timings["total"] = time.perf_counter() - start_all
  print("\nseconds per step: " + json.dumps({k: round(v, 1) for k, v in timings.items()}))
  print(f"everything is in {os.path.abspath(workdir)}")


def run():
  """The ``v2i-quickstart`` console command (``python -m launch.quickstart``)."""
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
