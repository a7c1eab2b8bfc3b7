import jax.numpy as jnp
import numpy as np
import optax
import pytest

from v2i_jax.training import schedules


def test_triangular_matches_hand_computed_values():
  # eta_min=0.001, eta_max=0.1, n_s=4, l=2: slope (0.1 - 0.001) / 4 = 0.02475 per update.
  schedule = schedules.triangular_cyclic_schedule(0.001, 0.1, step_size=4, num_cycles=2)
  expected = {
      0: 0.001, 1: 0.02575, 2: 0.0505, 3: 0.07525, 4: 0.1,  # climb of cycle 1
      5: 0.07525, 6: 0.0505, 7: 0.02575, 8: 0.001,  # fall; cycle 2 starts at eta_min
      10: 0.0505, 12: 0.1, 15: 0.02575,
      16: 0.001, 17: 0.001, 1000: 0.001,  # after l cycles it rests at eta_min
  }
  for step, value in expected.items():
    np.testing.assert_allclose(float(schedule(step)), value, rtol=1e-6, err_msg=f"step {step}")


def test_paper_schedule_length_and_peaks():
  # Table 2 of the paper: eta 1e-3..1e-1, n_s = 6 * 110, l = 5.
  n_s, cycles = 660, 5
  assert schedules.cyclic_total_steps(n_s, cycles) == 6600
  schedule = schedules.triangular_cyclic_schedule(1e-3, 1e-1, n_s, cycles)
  rates = np.asarray(schedule(jnp.arange(6600)))
  peaks = np.flatnonzero(np.isclose(rates, 1e-1, rtol=1e-6))
  np.testing.assert_array_equal(peaks, 660 + 1320 * np.arange(5))
  assert rates.min() == pytest.approx(1e-3, rel=1e-6)


def test_forever_without_num_cycles():
  schedule = schedules.triangular_cyclic_schedule(0.0, 1.0, step_size=10)
  np.testing.assert_allclose(float(schedule(10 + 20 * 7)), 1.0, rtol=1e-6)
  np.testing.assert_allclose(float(schedule(5 + 20 * 7)), 0.5, rtol=1e-6)


def test_drives_optax_sgd_updates():
  # SGD's update is -lr(step) * grad, so a unit gradient exposes the rate optax actually used.
  schedule = schedules.triangular_cyclic_schedule(0.01, 0.05, step_size=2, num_cycles=1)
  optimizer = optax.sgd(schedule)
  params = jnp.zeros(())
  state = optimizer.init(params)
  used = []
  for _ in range(5):
    updates, state = optimizer.update(jnp.ones(()), state, params)
    used.append(-float(updates))
  np.testing.assert_allclose(used, [0.01, 0.03, 0.05, 0.03, 0.01], rtol=1e-6)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(eta_min=0.1, eta_max=0.01, step_size=5), "eta_min <= eta_max"),
    (dict(eta_min=0.0, eta_max=0.1, step_size=0), "step_size"),
    (dict(eta_min=0.0, eta_max=0.1, step_size=5, num_cycles=0), "num_cycles"),
])
def test_rejects_bad_arguments(kwargs, needle):
  with pytest.raises(ValueError, match=needle):
    schedules.triangular_cyclic_schedule(**kwargs)
