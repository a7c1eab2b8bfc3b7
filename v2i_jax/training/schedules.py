"""Learning-rate schedules as optax schedules (pure functions of the step count).

The paper trains its keyword MLP with the triangular cyclic learning rate of Smith (2017): the
rate climbs linearly from ``eta_min`` to ``eta_max`` over ``step_size`` (``n_s``) updates, falls
back over the next ``n_s``, and repeats for ``num_cycles`` (``l``) cycles, so a run is
``2 * n_s * l`` updates long.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax


def cyclic_total_steps(step_size: int, num_cycles: int) -> int:
  """Number of updates in ``num_cycles`` whole cycles: ``2 * n_s * l``."""
  return 2 * int(step_size) * int(num_cycles)


def triangular_cyclic_schedule(eta_min: float, eta_max: float, step_size: int,
                               num_cycles: int | None = None) -> optax.Schedule:
  """The triangular cyclic learning rate.

  For update ``t`` with ``p = t mod 2 n_s``: ``eta_min + (eta_max - eta_min) * p / n_s`` while
  ``p <= n_s``, then ``eta_max - (eta_max - eta_min) * (p - n_s) / n_s``. With ``num_cycles``
  set, the rate stays at ``eta_min`` after the last cycle (where the paper stops training).

  Args:
    eta_min: lower bound (``eta_min`` of the paper).
    eta_max: upper bound (``eta_max``).
    step_size: ``n_s``, the updates of one half cycle.
    num_cycles: ``l``; ``None`` cycles forever.
  """
  if step_size < 1:
    raise ValueError(f"step_size (n_s) must be a positive number of updates, got {step_size}.")
  if not 0 <= eta_min <= eta_max:
    raise ValueError(f"need 0 <= eta_min <= eta_max, got eta_min={eta_min}, eta_max={eta_max}.")
  if num_cycles is not None and num_cycles < 1:
    raise ValueError(f"num_cycles (l) must be at least 1, got {num_cycles}.")

  def schedule(count):
    count = jnp.asarray(count, jnp.float32)
    position = jnp.mod(count, 2.0 * step_size)
    ramp = 1.0 - jnp.abs(position / step_size - 1.0)  # 0 -> 1 -> 0 over one cycle
    rate = eta_min + (eta_max - eta_min) * ramp
    if num_cycles is not None:
      rate = jnp.where(count >= cyclic_total_steps(step_size, num_cycles), eta_min, rate)
    return rate

  return schedule
