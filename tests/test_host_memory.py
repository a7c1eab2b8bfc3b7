"""keep_freed_memory: a big block freed and allocated again is reused, not page-faulted again."""

import subprocess
import sys

import pytest

_SCRIPT = """
import ctypes, resource, sys
from v2i_jax.training import host_memory
if sys.argv[1] == "keep":
  assert host_memory.keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
def touch():  # 64 MB from malloc (as XLA's buffers are), written once: fresh pages fault.
  block = libc.malloc(64 * 2 ** 20)
  ctypes.memset(block, 1, 64 * 2 ** 20)
  libc.free(block)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults_of_second_touch(mode: str) -> int:
  out = subprocess.run([sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True,
                       check=True)
  return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_keep_freed_memory_reuses_pages():
  pages = 64 * 2 ** 20 // 4096
  # glibc's default: a 64 MB block is a fresh mapping each time, every page faults again.
  assert _faults_of_second_touch("default") > pages // 2
  assert _faults_of_second_touch("keep") < pages // 20
