"""Keep freed host memory inside the process, so XLA:CPU's per-step buffers do not page-fault.

Each run of a compiled XLA:CPU step allocates its temporary buffer (88 MB for gan_quick's step,
several hundred MB for gan_paper's) and frees it at the end. glibc's malloc serves blocks that big
with fresh ``mmap`` pages and gives them back with ``munmap``, so every step page-faults on the
whole buffer again: measured 23,000 minor faults and ~80 ms of kernel time per gan_quick step on
the 2-core machine, and memory-bound fusions (copies, transposes) running 3-7x slower than on
reused pages (README, "Speed"). :func:`keep_freed_memory` tells glibc to serve every block from
its one heap and never return freed memory to the system, so later steps reuse the first steps'
pages (0 faults per step once the heap has settled, which takes one to a few steps).

The costs: the process keeps its peak heap size until it exits (a training process does anyway),
and all its threads share one malloc arena, which slows allocation-heavy multi-threaded work:
the keyword training's tf.data input took 71-97 s instead of 54-62 s with it, so only
``launch.train_gan`` (and the GAN step benchmark) call it; GAN training itself ran 3.40 vs 3.23
steps/s with and without it (gan_quick, 300 steps, back to back).

Call it before JAX starts its backend (it creates the threads that run the step); it affects the
calling process only, and is a no-op where the C library has no ``mallopt`` (not glibc).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8


def keep_freed_memory() -> bool:
  """Tunes glibc malloc as the module docstring says; True when every setting was accepted."""
  if not sys.platform.startswith("linux"):
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):  # No C library found, or not glibc (musl has no mallopt).
    return False
  mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
  mallopt.restype = ctypes.c_int
  # One arena: XLA's worker threads would otherwise allocate from per-thread arenas, whose
  # large blocks are always fresh mappings. No mmap: large blocks come from the heap too.
  # No trimming: freed memory at the heap's top stays mapped for the next step.
  settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2 ** 31 - 1))
  return all(mallopt(param, value) == 1 for param, value in settings)
