import numpy as np
import pytest

from qnnlab.analysis import fit_scaling


def test_exponential_data_prefers_exponential_and_recovers_base():
    n = np.arange(2, 13)
    v = 0.2 * 0.4**n
    rng = np.random.default_rng(0)
    se = 0.05 * v
    noisy = v * (1 + 0.05 * rng.standard_normal(n.size))
    fits = fit_scaling(n, noisy, se)
    assert fits.better == "exponential" and fits.decisive
    assert abs(fits.decay_base - 0.4) < 3 * fits.to_dict()["exponential"]["b_err"] + 1e-3


def test_power_law_data_prefers_power_law_and_recovers_exponent():
    n = np.arange(2, 13)
    v = 0.125 / n**2
    rng = np.random.default_rng(1)
    se = 0.03 * v
    noisy = v * (1 + 0.03 * rng.standard_normal(n.size))
    fits = fit_scaling(n, noisy, se)
    assert fits.better == "power_law" and fits.decisive
    assert abs(fits.power - 2) < 0.1
    np.testing.assert_allclose(fits.predict("power_law", n), v, rtol=0.1)


def test_fit_errors_are_clear():
    with pytest.raises(ValueError, match="at least 3"):
        fit_scaling([2, 3], [0.1, 0.05], [0.01, 0.01])
    with pytest.raises(ValueError, match="positive"):
        fit_scaling([2, 3, 4], [0.1, -0.05, 0.01], [0.01, 0.01, 0.01])
