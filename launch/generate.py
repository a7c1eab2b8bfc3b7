r"""Speech (or text) in, pictures out.

  python -m launch.generate --kws_workdir runs/quickstart/kws --gan_workdir runs/quickstart/gan \
      --audio phrase.wav --out out.png
  python -m launch.generate --gan_workdir runs/quickstart/gan --text "a happy dog" --out dog.png

Words in the audio separated by short pauses all go into the caption. Prints one JSON line with
what was recognised (word, probability, start/end seconds), what was dropped below
--min_probability, and caption words the word vectors do not know.
"""

import os
import sys

# XLA reads its flags when JAX starts its backend: add the fast-CPU conv flag before any JAX work.
from v2i_jax.image import layers  # Imports jax but does not start the backend.

os.environ["XLA_FLAGS"] = layers.with_fast_cpu_flag(os.environ.get("XLA_FLAGS", ""))

# pylint: disable=g-import-not-at-top,wrong-import-position
import json

from absl import app
from absl import flags
from absl import logging

from launch import cli

_KWS = flags.DEFINE_string("kws_workdir", None, "Keyword-classifier workdir (for --audio).")
_GAN = flags.DEFINE_string("gan_workdir", None, "GAN workdir.", required=True)
_AUDIO = flags.DEFINE_string("audio", None, "A wav/flac/ogg file with one or more words.")
_TEXT = flags.DEFINE_string("text", None, "A caption; skips speech recognition.")
_OUT = flags.DEFINE_string("out", "out.png", "Where the image grid goes (PNG).")
_SUMMARY = flags.DEFINE_string(
    "summary", None, "Also write a summary figure (waveform, MFCC, words, images) here.")
_NUM = cli.define_num_images_flag(8, "Pictures to generate.")
_SEED = cli.define_seed_flag()
_MAX_SECONDS = cli.define_max_seconds_flag()
_MIN_P = flags.DEFINE_float("min_probability", 0.3,
                            "Recognised words below this probability are reported and dropped.",
                            lower_bound=0.0, upper_bound=1.0)
_VECTORS = cli.define_vectors_flag()


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments.
  if (_AUDIO.value is None) == (_TEXT.value is None):
    sys.exit("error: pass exactly one of --audio (a recording) or --text (a caption).")
  if _AUDIO.value is not None and _KWS.value is None:
    sys.exit("error: --audio needs --kws_workdir (the keyword classifier that hears the words).")
  logging.set_verbosity(logging.WARNING)
  # Imported after flag parsing so that --help and flag errors answer at once.
  from v2i_jax import audio as audio_lib
  from v2i_jax import errors
  from v2i_jax import pipeline as pipeline_lib
  from v2i_jax.text import vectors as vectors_lib

  try:
    for path in (_OUT.value, _SUMMARY.value):
      if path:
        pipeline_lib.check_png_path(path)
    spec = vectors_lib.parse_source(_VECTORS.value)
    pipe = pipeline_lib.Pipeline.restore(_KWS.value if _AUDIO.value else None, _GAN.value, spec)
    waveform = mfcc = None
    if _AUDIO.value is not None:
      waveform = audio_lib.load_audio(_AUDIO.value, max_seconds=_MAX_SECONDS.value)
      result = pipe(waveform, audio_lib.SAMPLE_RATE, num_images=_NUM.value, seed=_SEED.value,
                    min_probability=_MIN_P.value, max_seconds=_MAX_SECONDS.value)
      mfcc = pipeline_lib.mfcc_of(pipe.recognizer, waveform)
    else:
      result = pipe.from_text(_TEXT.value, num_images=_NUM.value, seed=_SEED.value)
    pipeline_lib.save_grid(_OUT.value, result.images)
    if _SUMMARY.value:
      pipeline_lib.save_summary_figure(_SUMMARY.value, result, waveform=waveform, mfcc=mfcc)
  except errors.USER_ERRORS as e:
    cli.exit_with_error(e)
  print(json.dumps({
      "caption": result.caption,
      "words": [pipeline_lib.segment_dict(s) for s in result.words],
      "dropped": [pipeline_lib.segment_dict(s) for s in result.dropped],
      "oov_words": list(result.oov_words),
      "out": os.path.abspath(_OUT.value),
  }))


def run():
  """The ``v2i-generate`` console command (``python -m launch.generate``)."""
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
