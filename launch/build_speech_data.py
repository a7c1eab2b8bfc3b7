r"""Builds the offline keyword data set (Speech Commands layout, espeak-ng voices).

  python -m launch.build_speech_data --config configs/speech_data.py [--out_dir DIR]

Re-running with the same config finds the finished build and returns at once.
"""


from absl import app
from absl import flags

from launch import cli
from v2i_jax.speech import synth

_CONFIG = cli.define_config_file("config", "configs/speech_data.py", "Data set config file.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Output folder (default: the config's out_dir).")


def main(argv):
  del argv  # cli.parse_flags refuses positional arguments.
  config = _CONFIG.value
  out_dir = _OUT_DIR.value or config.out_dir
  try:
    summary = synth.build_dataset(out_dir, config, progress=True)
  except (synth.SynthError, OSError) as e:
    cli.exit_with_error(e, out_dir)
  state = "already built, nothing to do" if summary["skipped"] else (
      f"built in {summary['seconds']:.1f} s")
  print(f"{summary['out_dir']}: {state}")
  print(f"  {summary['clips']} clips of {len(summary['words'])} words")
  for split in ("train", "validation", "test"):
    print(f"  {split:<10} {summary['speakers_per_split'][split]:>5} speakers "
          f"{summary['clips_per_split'][split]:>7} clips")


def run():
  """The ``v2i-build-speech-data`` console command (``python -m launch.build_speech_data``)."""
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
