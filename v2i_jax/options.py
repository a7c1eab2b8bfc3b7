"""One rule for the numbers a user passes to every entry point (CLI flags, the Python API, the demo).

Seeds are whole numbers from 0 to ``MAX_SEED`` (2^31 - 1): a seed outside that range would wrap
onto another seed's pictures without a word, and one past 2^64 overflows. Image counts are whole
numbers from 1 to ``MAX_IMAGES``. Each check accepts an int (numpy integers too) or its decimal
text (flag and form values) and answers anything else (1.5, "ten", True, -1, 2^31) with the same
one-line :class:`OptionError` naming the allowed range.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

MAX_SEED = 2**31 - 1
MAX_IMAGES = 256


class OptionError(ValueError):
  """A seed or count that is not a whole number in its range."""


def whole_number(value: Any, name: str, low: int, high: int) -> int:
  """``value`` as an int in ``[low, high]``, or OptionError saying what is allowed."""
  allowed = f"use a whole number from {low} to {high}"
  if isinstance(value, (bool, np.bool_)):
    raise OptionError(f"{name}={value!r} is not a whole number; {allowed}.")
  if isinstance(value, (int, np.integer)):
    number = int(value)
  elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
    number = int(value.strip())
  else:
    raise OptionError(f"{name}={value!r} is not a whole number; {allowed}.")
  if not low <= number <= high:
    raise OptionError(f"{name}={number} is out of range; {allowed}.")
  return number


def check_seed(value: Any, name: str = "seed") -> int:
  """A seed of the latent vectors: 0 .. MAX_SEED."""
  return whole_number(value, name, 0, MAX_SEED)


def check_num_images(value: Any, high: int = MAX_IMAGES, name: str = "num_images") -> int:
  """How many pictures to paint: 1 .. ``high``."""
  return whole_number(value, name, 1, high)
