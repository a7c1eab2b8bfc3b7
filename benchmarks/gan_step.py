r"""GAN train-step throughput: plain vs fast layers, paper and quick configs, 1 and 2 devices,
achieved GFLOP/s from XLA's cost analysis, and the same step in PyTorch (when installed).

  python benchmarks/gan_step.py                       # everything, 3 launches, medians
  python benchmarks/gan_step.py --configs=gan_quick --variants=fast,torch --devices=1 \
      --launches=5 --steps=20 --json=/tmp/gan_step.json

Each measurement runs in its own child process (fresh backend, so a launch's noise shows as
spread between launches): JAX children get ``XLA_FLAGS`` with the fast-CPU flag of
PERF_NOTES.md (``v2i_jax.image.layers.FAST_CPU_XLA_FLAG``) and, for N > 1 devices,
``--xla_force_host_platform_device_count=N``. A child builds the config's GAN at batch 64 with
random batches already on the mesh (the step, not the input pipeline, is measured), compiles the
one jitted D-then-G step (time reported apart), runs 2 warm-up steps and times ``--steps`` steps;
the per-launch figure is the median step, the table shows the median over ``--launches``
("faults": minor page faults per timed step).
GFLOP/s = XLA cost-analysis FLOPs of the compiled step (summed over devices) / median step time.
The PyTorch child runs the same step eagerly (channels_last, the same shared-trunk D passes, D's
parameters frozen during G's backward), with all cores, mirroring the config's options (D norm,
joint conv, classifier head, projection term, L1 term and its best-of-K form, EMA of G).

With ``--keep_freed_memory`` (default) every child, JAX or PyTorch, first tunes glibc malloc to
keep freed memory (``v2i_jax.training.host_memory``, as ``launch.train_gan`` does), so neither
framework page-faults on its per-step buffers; ``--nokeep_freed_memory`` measures the defaults.

On a 2-core CPU "2 devices" gives each device one core: it shows the sharding overhead, not a
speed-up. The machine may be shared: beside each figure is the CPU time other processes used
during that child's life, in cores (from /proc/stat minus the child's own CPU time).
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from v2i_jax.training import cpu  # pylint: disable=wrong-import-position

CONFIGS = ("gan_paper", "gan_quick")
VARIANTS = ("plain", "fast", "torch")
_CONFIGS = flags.DEFINE_list("configs", list(CONFIGS), f"Any of {CONFIGS}.")
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS),
                              "plain/fast: JAX with flax-style or stride-1 layers; torch: PyTorch.")
_DEVICES = flags.DEFINE_list("devices", ["1", "2"], "JAX device counts (forced host devices).")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps per launch.")
_LAUNCHES = flags.DEFINE_integer("launches", 3, "Child launches per cell (the median is shown).")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Global batch size.")
_FUSE = flags.DEFINE_bool("fuse_discriminator_passes", True,
                          "JAX: one D trunk pass over real and fake (else three D calls).")
_KEEP = flags.DEFINE_bool(
    "keep_freed_memory", True,
    "Children of both frameworks first call v2i_jax.training.host_memory.keep_freed_memory() "
    "(glibc keeps freed blocks: no page faults on each step's buffers), as launch.train_gan does.")
_JSON = flags.DEFINE_string("json", None, "Also write every measurement to this JSON file.")
_CHILD = flags.DEFINE_string("child", None, "Internal: 'config:variant' to measure here.")


def _config(name: str):
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{name}").get_config()
  config.batch_size = _BATCH.value
  return config


def measure_jax(config_name: str, fast: bool) -> dict:
  """Times the compiled GAN step on this process's devices."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from v2i_jax.image import train  # pylint: disable=g-import-not-at-top
  from v2i_jax.training import mesh as mesh_lib  # pylint: disable=g-import-not-at-top

  config = _config(config_name)
  config.fast_layers = fast
  config.fuse_discriminator_passes = _FUSE.value
  mesh = mesh_lib.make_mesh()
  mesh_lib.check_batch_size(config.batch_size, mesh)
  state = mesh_lib.replicate(train.create_train_state(jax.random.PRNGKey(0), config), mesh)
  batches = train.synthetic_batches(config)
  batches = [mesh_lib.shard_batch(next(batches), mesh) for _ in range(2)]
  rng = mesh_lib.replicate(jax.random.PRNGKey(1), mesh)
  start = time.perf_counter()
  compiled = train.CompiledStep(config, mesh).lower(state, batches[0], rng).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  # Sharded programs report one device's FLOPs.
  flops = float(cost.get("flops", float("nan"))) * mesh.devices.size
  metrics = None

  def step(i):
    nonlocal state, metrics
    state, metrics = compiled(state, batches[i % 2], rng)
    jax.block_until_ready(metrics)

  step_s, faults = _time_steps(step)
  assert np.isfinite(float(metrics["d_loss"])), "the benchmarked step produced a NaN loss"
  return {"samples_per_s": config.batch_size / step_s, "step_ms": 1e3 * step_s,
          "gflop_per_step": flops / 1e9, "gflop_per_s": flops / 1e9 / step_s,
          "compile_s": compile_s, "devices": mesh.devices.size, "faults_per_step": faults}


def measure_torch(config_name: str) -> dict:
  """Times the same step in PyTorch eager on the CPU."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top

  from v2i_jax.image import models  # pylint: disable=g-import-not-at-top

  config = _config(config_name)
  if tuple(config.diff_augment) or config.loss != "bce" or config.mode_seeking_weight > 0:
    raise NotImplementedError(f"{config_name}: the PyTorch mirror has no DiffAugment, hinge "
                              "loss or mode-seeking term; add them here before comparing.")
  g_ch = models.scaled_channels(models.G_CHANNELS, config.width)
  d_ch = models.scaled_channels(models.D_CHANNELS, config.width)
  b, e, z_dim = config.batch_size, config.embedding_dim, config.z_dim
  torch.manual_seed(0)

  class Generator(nn.Module):

    def __init__(self):
      super().__init__()
      self.convs = nn.ModuleList(
          [nn.ConvTranspose2d(z_dim + e, g_ch[0], 4, 1, 0, bias=False)]
          + [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
             for c_in, c_out in zip(g_ch, g_ch[1:])])
      self.norms = nn.ModuleList([nn.BatchNorm2d(c) for c in g_ch])
      self.rgb = nn.ConvTranspose2d(g_ch[-1], 3, 4, 2, 1, bias=False)
      # config.g_conditional_bn: a shared Linear + ReLU of the caption, then per BN a gain and
      # a bias (Linear each), as the Flax generator has them.
      self.cbn = None
      if config.g_conditional_bn:
        self.cbn = nn.Linear(e, models.CBN_FEATURES)
        self.gains = nn.ModuleList([nn.Linear(models.CBN_FEATURES, c) for c in g_ch])
        self.biases = nn.ModuleList([nn.Linear(models.CBN_FEATURES, c) for c in g_ch])

    def forward(self, z, text):
      text = text + config.noise_std * torch.randn_like(text)
      x = torch.cat([z, text], 1)[:, :, None, None].contiguous(memory_format=torch.channels_last)
      cond = torch.relu(self.cbn(text)) if self.cbn is not None else None
      for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
        x = norm(conv(x))
        if cond is not None:
          x = (x * (1.0 + self.gains[i](cond))[:, :, None, None]
               + self.biases[i](cond)[:, :, None, None])
        x = torch.relu(x)
      return torch.tanh(self.rgb(x))

  class Discriminator(nn.Module):

    def __init__(self):
      super().__init__()
      # config.d_norm: "batch" = BatchNorm2d; "layer" = GroupNorm with one group (normalises
      # over C, H, W per sample with a per-channel affine, like the Flax LayerNorm); "none".
      norm = {"batch": nn.BatchNorm2d, "layer": lambda c: nn.GroupNorm(1, c),
              "spectral": None, "none": lambda c: nn.Identity()}[config.d_norm]
      # "spectral": torch's spectral_norm parametrisation on every 4x4 conv (one power step
      # per forward, like the Flax layers).
      sn = (torch.nn.utils.parametrizations.spectral_norm if config.d_norm == "spectral"
            else lambda m: m)
      if config.d_norm == "spectral":
        norm = lambda c: nn.Identity()
      layers = [sn(nn.Conv2d(3, d_ch[0], 4, 2, 1, bias=False)), nn.LeakyReLU(0.2)]
      for c_in, c_out in zip(d_ch, d_ch[1:]):
        layers += [sn(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)), norm(c_out),
                   nn.LeakyReLU(0.2)]
      self.trunk = nn.Sequential(*layers)
      self.text = nn.Sequential(nn.Linear(e, models.TEXT_FEATURES), nn.LeakyReLU(0.2))
      joined = d_ch[-1] + models.TEXT_CHANNELS
      self.joint = (nn.Sequential(nn.Conv2d(joined, d_ch[-1], 1, bias=False), nn.LeakyReLU(0.2))
                    if config.d_joint else nn.Identity())
      self.head = sn(nn.Conv2d(d_ch[-1] if config.d_joint else joined, 1, 4, 1, 0, bias=False))
      # config.d_classes: AC-GAN classifier on the flattened trunk features.
      self.classifier = (nn.Linear(16 * d_ch[-1], config.d_classes) if config.d_classes
                         else None)
      # config.d_projection: logit += <V text, features summed over space>.
      self.projection = nn.Linear(e, d_ch[-1], bias=False) if config.d_projection else None

    def score(self, features, text):
      logits = self.head(self.joint(torch.cat(
          [features, self.text(text).view(-1, models.TEXT_CHANNELS, 4, 4)], 1))).view(-1)
      if self.projection is not None:
        logits = logits + (features.sum((2, 3)) * self.projection(text)).sum(1)
      return logits

    def class_loss(self, features, labels):
      if self.classifier is None:
        return 0.0
      return config.class_loss_weight * nn.functional.cross_entropy(
          self.classifier(features.flatten(1)), labels)

  g = Generator().to(memory_format=torch.channels_last)
  d = Discriminator().to(memory_format=torch.channels_last)
  adam = lambda m, lr: torch.optim.Adam(m.parameters(), lr, betas=(config.beta1, config.beta2))
  g_opt = adam(g, config.learning_rate)
  d_opt = adam(d, config.d_learning_rate if config.d_learning_rate > 0 else config.learning_rate)
  bce = nn.BCEWithLogitsLoss()
  rng = np.random.default_rng(0)
  real = torch.from_numpy(rng.uniform(-1, 1, (b, 3, 64, 64)).astype(np.float32)).contiguous(
      memory_format=torch.channels_last)
  right = torch.from_numpy(rng.normal(size=(b, e)).astype(np.float32))
  wrong = torch.from_numpy(rng.normal(size=(b, e)).astype(np.float32))
  ones, zeros = torch.ones(b), torch.zeros(b)
  labels = torch.from_numpy(rng.integers(0, max(config.d_classes, 1), b))
  ema = ([p.detach().clone() for p in g.parameters()] if config.g_ema_decay > 0 else None)

  extra = config.l1_samples - 1 if config.l1_weight > 0 else 0
  rows = int(round(b * config.l1_samples_fraction)) if extra else 0
  factor = 64 // config.l1_resolution
  # config.l1_resolution: the L1 term compares box-averaged images.
  l1_view = (lambda x: x) if factor <= 1 else (lambda x: nn.functional.avg_pool2d(x, factor))

  def step():
    z = torch.randn(b, z_dim)
    if rows:  # config.l1_samples: each of the first rows trains on the nearest of k draws of z.
      with torch.no_grad():
        candidates = torch.cat([z[:rows, None], torch.randn(rows, extra, z_dim)], 1)
        pictures = l1_view(g(candidates.flatten(0, 1),
                             right[:rows].repeat_interleave(extra + 1, 0)))
        distances = (pictures.view(rows, extra + 1, *pictures.shape[1:])
                     - l1_view(real[:rows])[:, None]).abs().mean((2, 3, 4))
        z[:rows] = candidates[torch.arange(rows), distances.argmin(1)]
    fake = g(z, right)
    real_features, fake_features = d.trunk(real), d.trunk(fake.detach())
    d_loss = (bce(d.score(real_features, right), ones)
              + 0.5 * (bce(d.score(real_features, wrong), zeros)
                       + bce(d.score(fake_features, right), zeros))
              + d.class_loss(real_features, labels))
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    d.requires_grad_(False)
    fake_features = d.trunk(fake)
    g_loss = bce(d.score(fake_features, right), ones) + d.class_loss(fake_features, labels)
    if rows:
      g_loss = g_loss + config.l1_weight * (
          l1_view(fake[:rows]) - l1_view(real[:rows])).abs().mean()
    elif config.l1_weight > 0:  # pix2pix's L1 term towards the caption's image.
      g_loss = g_loss + config.l1_weight * (l1_view(fake) - l1_view(real)).abs().mean()
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    if ema is not None:  # config.g_ema_decay: the EMA of G's weights, as the JAX step keeps it.
      with torch.no_grad():
        torch._foreach_lerp_(ema, list(g.parameters()), 1.0 - config.g_ema_decay)
    d.requires_grad_(True)
    return float(d_loss)

  losses = []
  step_s, faults = _time_steps(lambda i: losses.append(step()))
  assert np.isfinite(losses[-1]), "the PyTorch step produced a NaN loss"
  return {"samples_per_s": b / step_s, "step_ms": 1e3 * step_s, "threads": torch.get_num_threads(),
          "torch": torch.__version__, "faults_per_step": faults}


def _time_steps(step) -> tuple[float, float]:
  """Runs ``step(i)`` for 2 warm-up and ``--steps`` timed steps; returns the median timed step
  in seconds and this process's minor page faults (first touches of fresh pages) per timed step."""
  minor_faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  times = []
  for i in range(_STEPS.value + 2):
    if i == 2:
      faults = minor_faults()
    start = time.perf_counter()
    step(i)
    times.append(time.perf_counter() - start)
  return statistics.median(times[2:]), (minor_faults() - faults) / _STEPS.value


def _busy_cpu_seconds() -> float:
  with open("/proc/stat") as f:
    fields = [float(x) for x in f.readline().split()[1:]]
  idle = fields[3] + fields[4]  # idle + iowait
  return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _run_child(config_name: str, variant: str, devices: int) -> dict:
  from v2i_jax.image import layers  # pylint: disable=g-import-not-at-top
  env = dict(os.environ)
  if variant != "torch":
    flags_ = layers.with_fast_cpu_flag(env.get("XLA_FLAGS", ""))
    if devices > 1:
      flags_ += f" --xla_force_host_platform_device_count={devices}"
    env["XLA_FLAGS"] = flags_
  own_before = resource.getrusage(resource.RUSAGE_CHILDREN)
  busy_before, start = _busy_cpu_seconds(), time.time()
  out = subprocess.run(
      [sys.executable, os.path.abspath(__file__), f"--child={config_name}:{variant}",
       f"--steps={_STEPS.value}", f"--batch_size={_BATCH.value}",
       f"--fuse_discriminator_passes={_FUSE.value}", f"--keep_freed_memory={_KEEP.value}"],
      env=env, capture_output=True, text=True, check=False)
  wall = time.time() - start
  own_after = resource.getrusage(resource.RUSAGE_CHILDREN)
  own = ((own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime))
  if out.returncode:
    raise RuntimeError(f"{config_name}/{variant}/{devices} failed:\n{out.stderr[-3000:]}")
  result = json.loads(out.stdout.strip().splitlines()[-1])
  result["other_load_cores"] = max(0.0, (_busy_cpu_seconds() - busy_before - own) / wall)
  return result


def main(argv):
  del argv
  if _CHILD.value:
    config_name, variant = _CHILD.value.split(":")
    if _KEEP.value:
      from v2i_jax.training import host_memory  # pylint: disable=g-import-not-at-top
      host_memory.keep_freed_memory()
    result = (measure_torch(config_name) if variant == "torch"
              else measure_jax(config_name, fast=variant == "fast"))
    print(json.dumps(result))
    return
  for v in _VARIANTS.value:
    if v not in VARIANTS:
      sys.exit(f"error: unknown variant {v!r}; use any of {VARIANTS}.")
  if "torch" in _VARIANTS.value:
    try:
      import torch  # pylint: disable=g-import-not-at-top,unused-import
    except ImportError:
      print("PyTorch is not installed: skipping the PyTorch reference (pip install torch).")
      _VARIANTS.value.remove("torch")
  cells = [(c, v, int(n)) for c in _CONFIGS.value for v in _VARIANTS.value
           for n in ([1] if v == "torch" else _DEVICES.value)]
  print(f"machine: {cpu.describe()}, load average {os.getloadavg()}; batch "
        f"{_BATCH.value}, {_STEPS.value} timed steps, {_LAUNCHES.value} launches per cell, "
        f"keep_freed_memory={_KEEP.value}")
  runs = {cell: [] for cell in cells}
  for launch in range(_LAUNCHES.value):
    for cell in cells:  # Interleaved so slow phases of the machine hit every cell alike.
      runs[cell].append(_run_child(*cell))
      r = runs[cell][-1]
      print(f"  launch {launch + 1}: {cell[0]:9s} {cell[1]:5s} {cell[2]} dev: "
            f"{r['samples_per_s']:8.1f} samples/s (others used {r['other_load_cores']:.2f} "
            "cores)", flush=True)
  header = (f"{'config':9s} {'variant':7s} {'dev':>3s} {'samples/s':>10s} {'min-max':>15s} "
            f"{'step ms':>8s} {'GFLOP/step':>10s} {'GFLOP/s':>8s} {'compile s':>9s} "
            f"{'faults':>7s} {'others':>6s}")
  print("\n" + header)
  summary = {}
  for cell, results in runs.items():
    rates = [r["samples_per_s"] for r in results]
    med = lambda k: statistics.median(r[k] for r in results) if k in results[0] else float("nan")
    summary["/".join(map(str, cell))] = {"median_samples_per_s": statistics.median(rates),
                                         "runs": results}
    print(f"{cell[0]:9s} {cell[1]:7s} {cell[2]:3d} {statistics.median(rates):10.1f} "
          f"{min(rates):7.1f}-{max(rates):<7.1f} {med('step_ms'):8.1f} "
          f"{med('gflop_per_step'):10.2f} {med('gflop_per_s'):8.1f} {med('compile_s'):9.1f} "
          f"{med('faults_per_step'):7.0f} {med('other_load_cores'):6.2f}")
  print()
  for config_name in _CONFIGS.value:
    get = lambda v, n=1: summary.get(f"{config_name}/{v}/{n}", {}).get("median_samples_per_s")
    if get("fast") and get("plain"):
      print(f"{config_name}: fast / plain layers = {get('fast') / get('plain'):.2f}x (1 device)")
    if get("fast") and get("torch"):
      print(f"{config_name}: JAX fast / PyTorch eager = {get('fast') / get('torch'):.2f}x")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump({"cpu": cpu.describe(), "batch_size": _BATCH.value, "steps": _STEPS.value,
                 "cells": summary}, f, indent=1)


if __name__ == "__main__":
  app.run(main)
