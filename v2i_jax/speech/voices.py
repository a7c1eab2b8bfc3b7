"""Generated espeak-ng voice variants: many more voices than the ~70 that espeak-ng ships.

A keyword model trained on a few dozen synthetic voices learns those voices. espeak-ng describes
a voice variant in a small text file (``voices/!v/<name>``): pitch, the frequency, height and
width of each formant, breathiness, roughness, flutter, echo, voicing and consonant strength.
:func:`variant_text` draws such a file at random from a seed: a vocal-tract length (one scale
for all formant frequencies, 0.8-1.25, as men, women and children differ), each formant's
strength and width, pitch base and range, and sometimes breath, roughness, flutter, echo. The
name (``v2i-<seed>-<index>``) determines the text, so a data set built from generated variants
is reproducible from its config alone.

espeak-ng reads variants only from its data folder, and the installed package's folder should
not be written to, so the engine runs on :func:`data_mirror`: a folder of links to the package's
data with the generated variant files added to ``voices/!v``. The shipped voices' files are the
same files (linked), so their output does not change.

The Klatt variants are never a template here: they are held out for the out-of-distribution
yardstick (``synth.HELD_OUT_VARIANTS``), and every generated variant uses the default
(formant) synthesiser.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile

import numpy as np

PREFIX = "v2i-"
_NAME = re.compile(r"v2i-(\d+)-(\d+)\Z")


def generated_names(n: int, seed: int = 0) -> list[str]:
  """The names of ``n`` generated variants of ``seed``."""
  return [f"{PREFIX}{seed}-{i:04d}" for i in range(n)]


def is_generated(name: str) -> bool:
  return _NAME.match(name) is not None


def variant_text(name: str) -> str:
  """The espeak-ng variant file of a generated variant name (see the module docstring)."""
  match = _NAME.match(name)
  if match is None:
    raise ValueError(f"{name!r} is not a generated variant name ({PREFIX}<seed>-<index>).")
  rng = np.random.default_rng([int(match.group(1)), int(match.group(2)), 7])
  tract = rng.uniform(0.8, 1.25)  # Formant frequencies scale with 1 / vocal-tract length.
  female = tract > 1.05 if rng.uniform() < 0.85 else tract <= 1.05
  base = int(rng.uniform(140, 230) if female else rng.uniform(55, 140))
  lines = ["language variant", f"name {name}", f"gender {'female' if female else 'male'}", "",
           f"pitch {base} {base + int(rng.uniform(20, 110))}"]
  for formant in range(9):
    if formant == 0:
      frequency = rng.uniform(80, 120)
    elif formant <= 5:
      frequency = 100 * tract * rng.uniform(0.95, 1.05)
    else:
      frequency = 100 * tract
    height = rng.uniform(60, 130) if 1 <= formant <= 5 else 100
    width = rng.uniform(70, 170)
    lines.append(f"formant {formant} {int(frequency)} {int(height)} {int(width)}")
  lines.append(f"voicing {int(rng.uniform(70, 130))}")
  lines.append(f"consonants {int(rng.uniform(70, 150))}")
  if rng.uniform() < 0.4:
    lines.append(f"roughness {int(rng.integers(1, 6))}")
  if rng.uniform() < 0.5:
    lines.append(f"flutter {int(rng.uniform(2, 40))}")
  if rng.uniform() < 0.25:
    lines.append("breath " + " ".join(str(int(v)) for v in rng.uniform(0, 6, 8)))
  if rng.uniform() < 0.2:
    lines.append(f"echo {int(rng.uniform(20, 150))} {int(rng.uniform(4, 20))}")
  return "\n".join(lines) + "\n"


def data_mirror(package_data: str) -> str:
  """A temporary espeak-ng data folder (removed at exit) that links every entry of
  ``package_data`` and has its own ``voices/!v``, where :func:`install` writes variants."""
  return _mirror(os.path.abspath(package_data))


@functools.cache
def _mirror(package_data: str) -> str:
  root = tempfile.mkdtemp(prefix="v2i-espeak-")
  atexit.register(shutil.rmtree, root, True)
  for entry in os.listdir(package_data):
    if entry != "voices":
      os.symlink(os.path.join(package_data, entry), os.path.join(root, entry))
  voices = os.path.join(package_data, "voices")
  os.makedirs(os.path.join(root, "voices", "!v"))
  for entry in os.listdir(voices):
    if entry != "!v":
      os.symlink(os.path.join(voices, entry), os.path.join(root, "voices", entry))
  shipped = os.path.join(voices, "!v")
  for entry in os.listdir(shipped):
    os.symlink(os.path.join(shipped, entry), os.path.join(root, "voices", "!v", entry))
  return root


def install(mirror: str, name: str) -> None:
  """Writes the generated variant ``name`` into ``mirror`` (once)."""
  path = os.path.join(mirror, "voices", "!v", name)
  if not os.path.exists(path):
    with open(path, "w") as f:
      f.write(variant_text(name))
