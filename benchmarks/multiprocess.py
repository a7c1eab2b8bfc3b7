r"""One host, several layouts: 1 process x 1 device, 1 process x 2 devices, 2 processes x 1 device.

  python benchmarks/multiprocess.py                                   # both parts
  python benchmarks/multiprocess.py --part=throughput --config=kws_mlp --steps=50 --repeats=3
  python benchmarks/multiprocess.py --part=loss --figure=docs/multiprocess_loss.png

throughput: samples/s of the keyword train step of ``configs/<--config>.py`` (random batches of
the config's global batch size, already on the mesh: the step is measured, not the input
pipeline). "2 devices" are forced host devices of one process; "2 processes" are two
``jax.distributed`` processes on 127.0.0.1 with one CPU device each, their gradients summed by
gloo; the number is process 0's, for the global batch.

loss: trains ``--loss_config`` with ``launch.train_kws`` (the real data and input pipeline) in
the three layouts with the same global batch and seed, for one cycle of ``--loss_step_size``
steps up and down, and plots the per-step training loss and the difference of the two-process
run from each one-process run.

Every layout runs in fresh child processes. On a CPU the layouts share the same cores: the
numbers show the cost of sharding and of cross-process collectives, not a speed-up. The load
average is printed beside them (the machine may be shared).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

from kws_measure import measure  # benchmarks/ is on sys.path when run as a script

# Run as a script from anywhere: the repository root holds the configs package.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from v2i_jax.training import cpu  # pylint: disable=wrong-import-position

LAYOUTS = (("1 process x 1 device", 1, 1), ("1 process x 2 devices", 1, 2),
           ("2 processes x 1 device", 2, 1))
_PART = flags.DEFINE_enum("part", "both", ["both", "throughput", "loss"], "What to measure.")
_CONFIG = flags.DEFINE_string("config", "kws_mlp", "configs/<name>.py for the throughput part.")
_STEPS = flags.DEFINE_integer("steps", 50, "Timed steps per repeat.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Repeats (the median is shown).")
_LOSS_CONFIG = flags.DEFINE_string("loss_config", "kws_mlp_paper",
                                   "configs/<name>.py for the loss part (its data must exist).")
_LOSS_STEP_SIZE = flags.DEFINE_integer("loss_step_size", 150,
                                       "Half cycle of the loss run (it trains 2x this many steps).")
_FIGURE = flags.DEFINE_string("figure", "docs/multiprocess_loss.png", "The loss figure.")
_JSON = flags.DEFINE_string("json", None, "Also write the numbers to this JSON file.")
_CHILD = flags.DEFINE_string("child", None, "Internal: 'PROCESS_ID,NUM_PROCESSES,PORT': measure.")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(devices: int) -> dict:
  return dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"),
              XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")


def _run_layout(processes: int, devices: int, command) -> list[str]:
  """Starts ``processes`` children running ``command(process_id, port)``; their stdouts."""
  port = _free_port()
  children = [subprocess.Popen(command(i, port), cwd=REPO, env=_env(devices),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for i in range(processes)]
  outputs = []
  for i, child in enumerate(children):
    out, err = child.communicate()
    if child.returncode:
      for other in children:
        other.kill()
      sys.exit(f"error: process {i} of {processes} x {devices} device(s) failed:\n{err[-3000:]}")
    outputs.append(out)
  return outputs


def throughput() -> list[dict]:
  rows = []
  for name, processes, devices in LAYOUTS:
    def command(i, port, processes=processes):
      return [sys.executable, os.path.abspath(__file__), f"--child={i},{processes},{port}",
              f"--config={_CONFIG.value}", f"--steps={_STEPS.value}",
              f"--repeats={_REPEATS.value}"]
    out = _run_layout(processes, devices, command)[0]
    row = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    rows.append(dict(row, layout=name))
  return rows


def loss_curves(workroot: str) -> dict[str, list[float]]:
  curves = {}
  for name, processes, devices in LAYOUTS:
    workdir = os.path.join(workroot, f"{processes}x{devices}")
    def command(i, port, processes=processes, workdir=workdir):
      multi = ([f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={processes}",
                f"--process_id={i}"] if processes > 1 else [])
      return [sys.executable, "-m", "launch.train_kws",
              f"--config={os.path.join(REPO, 'configs', _LOSS_CONFIG.value + '.py')}",
              f"--workdir={workdir}", "--config.log_every_steps=1",
              f"--config.schedule.step_size={_LOSS_STEP_SIZE.value}",
              "--config.schedule.num_cycles=1", "--config.eval_every_steps=1000000",
              "--config.checkpoint_every_steps=1000000", *multi]
    _run_layout(processes, devices, command)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      curves[name] = [row["loss"] for row in map(json.loads, f) if "loss" in row]
  return curves


def plot(curves: dict[str, list[float]], path: str) -> dict[str, dict[str, float]]:
  """Left: the three loss curves. Right: |two processes - each one-process layout| per step."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  names = [name for name, _, _ in LAYOUTS]
  multi = np.asarray(curves[names[2]])
  steps = np.arange(1, len(multi) + 1)
  fig, (ax_loss, ax_diff) = plt.subplots(1, 2, figsize=(11, 4))
  for name, style in zip(names, ("-", "--", ":")):
    ax_loss.plot(steps, curves[name], style, label=name)
  differences = {}
  for name, marker in zip(names[:2], ("o", "x")):
    diff = np.abs(multi - np.asarray(curves[name]))
    above = np.flatnonzero(diff > 1e-6)
    differences[name] = {"max_abs": float(diff.max()),
                         "first_step_above_1e-6": int(above[0]) + 1 if above.size else None}
    # Exact agreement has no log-scale value: show it on the floor of the axis.
    ax_diff.semilogy(steps, np.maximum(diff, 1e-9), marker, markersize=2.5,
                     label=f"vs {name} (max {diff.max():.1e})")
  ax_loss.set(xlabel="step", ylabel="training loss",
              title=f"{_LOSS_CONFIG.value}: same global batch and seed")
  ax_diff.set(xlabel="step", ylabel="|loss difference| (1e-9 = identical)",
              title=f"{names[2]} against one process", ylim=(5e-10, 1))
  ax_loss.legend()
  ax_diff.legend(loc="center right")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return differences


def main(argv):
  del argv
  if _CHILD.value:
    process_id, num_processes, port = map(int, _CHILD.value.split(","))
    if num_processes > 1:
      from v2i_jax.training import distributed  # pylint: disable=g-import-not-at-top
      distributed.initialize(f"127.0.0.1:{port}", num_processes, process_id)
    print(json.dumps(measure(_CONFIG.value, _STEPS.value, _REPEATS.value)), flush=True)
    return
  report = {}
  if _PART.value in ("both", "throughput"):
    report["throughput"] = throughput()
  if _PART.value in ("both", "loss"):
    with tempfile.TemporaryDirectory() as workroot:
      curves = loss_curves(workroot)
    report["loss_two_processes_against"] = plot(curves, _FIGURE.value)
    report["loss_curves"] = curves
  load = os.getloadavg()
  report["load_average"] = load
  report["cpu"] = cpu.describe()
  print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {cpu.describe()}")
  for r in report.get("throughput", []):
    print(f"{r['config']:<14} {r['layout']:<24} batch {r['batch_size']:>4} "
          f"{r['step_ms']:>8.2f} ms/step {r['samples_per_second']:>10.0f} samples/s "
          f"(compile {r['compile_seconds']:.1f} s)")
  for name, diff in report.get("loss_two_processes_against", {}).items():
    print(f"loss over {2 * _LOSS_STEP_SIZE.value} steps, {LAYOUTS[2][0]} vs {name}: max "
          f"|difference| {diff['max_abs']:.2e}, first step above 1e-6: "
          f"{diff['first_step_above_1e-6']}; figure {_FIGURE.value}")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(report, f, indent=1)


if __name__ == "__main__":
  app.run(main)
