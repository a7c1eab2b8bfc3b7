r"""Keyword-classifier training throughput: samples/s of the jitted, sharded train step.

  python benchmarks/kws_step.py                                  # every kws config, 1 and 2 devices
  python benchmarks/kws_step.py --configs=kws_cnn --devices=1,2 --steps=100 --json=/tmp/kws.json

For each device count the script reruns itself in a child process with
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (on a CPU host; a GPU host uses its real
devices and only counts up to their number). The child builds the config's model and optimiser
for 35 words and its MFCC shape, feeds random batches of ``config.batch_size`` already on the
mesh (the step, not the input pipeline, is measured), compiles once (time reported apart) and
times ``--steps`` steps; the median of ``--repeats`` is shown. On a CPU, "2 devices" splits the
same cores, so it shows the sharding overhead rather than a speed-up. The machine may be shared:
the load average is printed beside the numbers. TensorFlow is not needed.
"""

import json
import os
import subprocess
import sys

from absl import app
from absl import flags

from kws_measure import measure  # benchmarks/ is on sys.path when run as a script

# Run as a script from anywhere: the repository root holds the configs package.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from v2i_jax.training import cpu  # pylint: disable=wrong-import-position

CONFIGS = ("kws_mlp_paper", "kws_mlp", "kws_cnn")
_CONFIGS = flags.DEFINE_list("configs", list(CONFIGS), f"Any of {CONFIGS}.")
_DEVICES = flags.DEFINE_list("devices", ["1", "2"], "Device counts (forced host devices on CPU).")
_STEPS = flags.DEFINE_integer("steps", 50, "Timed steps per repeat.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Repeats (the median is shown).")
_JSON = flags.DEFINE_string("json", None, "Also write the numbers to this JSON file.")
_CHILD = flags.DEFINE_bool("child", False, "Internal: measure in this process and print JSON.")


def main(argv):
  del argv
  unknown = sorted(set(_CONFIGS.value) - set(CONFIGS))
  if unknown:
    sys.exit(f"error: unknown configs {unknown}; use any of {CONFIGS}.")
  if _CHILD.value:
    for name in _CONFIGS.value:
      print(json.dumps(measure(name, _STEPS.value, _REPEATS.value)), flush=True)
    return
  rows = []
  for devices in _DEVICES.value:
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") +
                                      f" --xla_force_host_platform_device_count={devices}"))
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", f"--steps={_STEPS.value}",
         f"--repeats={_REPEATS.value}", f"--configs={','.join(_CONFIGS.value)}"],
        env=env, capture_output=True, text=True, check=False)
    if done.returncode:
      sys.exit(f"error: the {devices}-device run failed:\n{done.stderr[-3000:]}")
    rows += [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
  load = os.getloadavg()
  print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {cpu.describe()}")
  print(f"{'config':<14} {'devices':>7} {'batch':>5} {'step ms':>8} {'samples/s':>10} "
        f"{'compile s':>9}")
  for r in rows:
    print(f"{r['config']:<14} {r['devices']:>7} {r['batch_size']:>5} {r['step_ms']:>8.2f} "
          f"{r['samples_per_second']:>10.0f} {r['compile_seconds']:>9.1f}")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump({"load_average": load, "rows": rows}, f, indent=1)


if __name__ == "__main__":
  app.run(main)
