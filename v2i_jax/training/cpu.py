"""What CPU this is, for every speed figure: its model name and vector extensions.

  cpu.describe()  # 'AMD EPYC, 2 cores, AVX2 FMA (no AVX-512)'

The same command runs at very different speeds on an AVX2-only and an AVX-512 CPU of the same
family (XLA and oneDNN pick other kernels), so a figure without its CPU says little. Reads
``/proc/cpuinfo`` (Linux); elsewhere it falls back to :func:`platform.processor`.
"""

from __future__ import annotations

import functools
import os
import platform

# The extensions that change which kernels XLA:CPU and oneDNN use, in the order printed.
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                "avx512_bf16", "amx_tile", "amx_bf16")


@functools.lru_cache(maxsize=None)
def _cpuinfo() -> dict[str, str]:
  """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
  try:
    with open("/proc/cpuinfo") as f:
      block = f.read().split("\n\n")[0]
  except OSError:
    return {}
  fields = {}
  for line in block.splitlines():
    key, _, value = line.partition(":")
    fields[key.strip()] = value.strip()
  return fields


def model_name() -> str:
  return _cpuinfo().get("model name") or platform.processor() or platform.machine() or "unknown"


def vector_extensions() -> list[str]:
  """The :data:`VECTOR_FLAGS` this CPU has."""
  flags = set(_cpuinfo().get("flags", "").split())
  return [f for f in VECTOR_FLAGS if f in flags]


def has_avx512() -> bool:
  return "avx512f" in vector_extensions()


def describe() -> str:
  """``'<model>, <n> cores, <extensions>'``, e.g. 'AMD EPYC, 2 cores, AVX2 FMA (no AVX-512)'."""
  ext = vector_extensions()
  shown = " ".join(e.upper() for e in ext if e not in ("avx",)) or "no AVX"
  if _cpuinfo() and not has_avx512():
    shown += " (no AVX-512)"
  return f"{model_name()}, {os.cpu_count()} cores, {shown}"
