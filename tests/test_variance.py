"""Gradient-variance scans against the closed forms of the toy model and the expected scaling of
the hardware-efficient ansatz (Sharma et al., PRL 128, 180505; Cerezo et al., Nat. Commun. 12)."""

import math

import numpy as np
import pytest

from qnnlab.analysis import TOY_THEORY, sample_statistics, variance_scan
from qnnlab.analysis.variance import gradient_samples
from qnnlab.models import toy_ry
from qnnlab.training import build_cost


def toy_fourth_moment(cost: str, n: int) -> float:
    """E[g^4] of the toy gradient (mean zero). g = sin(t1)/2 * prod cos^2(tj/2) (global) or
    sin(t1)/(2n) (local); E[sin^4] = 3/8 and E[cos^8(t/2)] = 35/128 for t ~ U[0, 2 pi)."""
    if cost == "global":
        return (3 / 128) * (35 / 128) ** (n - 1)
    return 3 / (128 * n**4)


def theoretical_stderr(cost: str, n: int, draws: int) -> float:
    """Exact SE of the sample variance, from the closed-form second and fourth moments. The
    sample-based SE is unreliable here: the kurtosis grows like (35/18)^n for the global cost."""
    var = TOY_THEORY[cost](n)
    mu4 = toy_fourth_moment(cost, n)
    return math.sqrt((mu4 - var**2 * (draws - 3) / (draws - 1)) / draws)


def assert_matches_closed_form(scan, cost: str) -> None:
    """Every point within 4 exact standard errors of the closed form (a false alarm over ~15
    points has probability < 1e-3 even for the skewed sampling distribution)."""
    for e in scan.estimates:
        theory = TOY_THEORY[cost](e.n_qubits)
        z = (e.variance - theory) / theoretical_stderr(cost, e.n_qubits, e.draws)
        assert abs(z) < 4, f"n={e.n_qubits}: Var={e.variance:.4e}, theory={theory:.4e}, z={z:.2f}"


@pytest.mark.parametrize("cost", ["global", "local"])
def test_toy_model_matches_closed_form_within_sampling_error(cost):
    scan = variance_scan(
        ansatz="toy-ry", cost=cost, qubits=range(2, 13), draws=4000, seed=0, progress=False
    )
    assert_matches_closed_form(scan, cost)
    assert scan.fits.better == ("exponential" if cost == "global" else "power_law")
    if cost == "global":
        # fitted base within 10% of 3/8 (the closed form decays as (3/8)^n)
        assert abs(scan.fits.decay_base - 3 / 8) < 0.1 * 3 / 8
    else:
        assert abs(scan.fits.power - 2) < 0.15


def test_gradient_mean_is_zero_and_local_samples_match_analytic_derivative():
    n = 4
    circuit = toy_ry(n)
    import jax

    samples = gradient_samples(
        circuit, build_cost("local", range(n)), draws=64, key=jax.random.key(3)
    )
    thetas = jax.random.uniform(jax.random.key(3), (64, n), dtype=np.float32, maxval=2 * math.pi)
    # dC_L/dtheta_1 = sin(theta_1) / (2n) exactly
    np.testing.assert_allclose(samples, np.sin(np.asarray(thetas)[:, 0]) / (2 * n), atol=2e-6)


def hea_scans_with_expected_verdicts(qubits, *, draws: int, seed: int):
    """Global and local HEA scans at log depth; asserts exponential vs power-law verdicts."""
    common = dict(ansatz="hea", qubits=qubits, draws=draws, seed=seed, progress=False)
    global_scan = variance_scan(cost="global", **common)
    local_scan = variance_scan(cost="local", **common)
    assert global_scan.fits.better == "exponential" and global_scan.fits.decisive
    assert local_scan.fits.better == "power_law" and local_scan.fits.decisive
    return global_scan, local_scan


def test_hardware_efficient_global_decays_exponentially_local_does_not():
    """Eq. (11) vs Eq. (12): at log depth the global cost has a barren plateau, the local not."""
    global_scan, local_scan = hea_scans_with_expected_verdicts(range(2, 9), draws=600, seed=1)
    assert global_scan.fits.decay_base < 0.6
    # local variance at n=8 is far above the global one
    assert local_scan.variance[-1] > 20 * global_scan.variance[-1]


def test_sample_statistics_standard_error_is_calibrated():
    rng = np.random.default_rng(0)
    draws = 500
    estimates, errors = [], []
    for _ in range(400):
        var, se, _, _, kurt = sample_statistics(rng.normal(0.0, 2.0, draws))
        estimates.append(var)
        errors.append(se)
    # the spread of the estimates matches the mean reported SE within 10% (400 repetitions)
    assert abs(np.std(estimates) / np.mean(errors) - 1) < 0.1
    assert abs(np.mean(estimates) - 4.0) < 4 * np.std(estimates) / np.sqrt(400)
    assert abs(kurt - 3) < 1


def test_checkpointed_scan_resumes_without_recomputing(tmp_path, monkeypatch):
    def scan(draws: int = 50):
        return variance_scan(
            ansatz="toy-ry",
            cost="local",
            qubits=[2, 3, 4],
            draws=draws,
            progress=False,
            checkpoint_dir=tmp_path,
        )

    first = scan()
    import qnnlab.analysis.variance as variance

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpointed qubit count was recomputed")

    monkeypatch.setattr(variance, "estimate_gradient_variance", refuse)
    assert scan().variance == first.variance
    # another configuration must not pick these records up
    with pytest.raises(AssertionError, match="recomputed"):
        scan(draws=51)


def test_scan_is_reproducible_and_seed_dependent():
    a = variance_scan(ansatz="toy-ry", cost="global", qubits=[3], draws=64, seed=5, progress=False)
    b = variance_scan(ansatz="toy-ry", cost="global", qubits=[3], draws=64, seed=5, progress=False)
    c = variance_scan(ansatz="toy-ry", cost="global", qubits=[3], draws=64, seed=6, progress=False)
    assert a.variance == b.variance
    assert a.variance != c.variance


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ansatz="nope"), "unknown ansatz"),
        (dict(cost="nope"), "unknown cost"),
        (dict(qubits=[0, 2]), "distinct positive"),
        (dict(qubits=[30]), "beyond a dense statevector"),
        (dict(draws=2), "draws must be"),
        (dict(param=99, qubits=[2]), "out of range"),
        (dict(ansatz="toy-ry", layers=3), "one layer"),
    ],
)
def test_bad_scan_configuration_is_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        variance_scan(progress=False, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("cost", ["global", "local"])
def test_toy_model_closed_form_up_to_16_qubits(cost):
    """The full-range version of the closed-form check (n = 2..16, 8,000 draws each)."""
    scan = variance_scan(
        ansatz="toy-ry", cost=cost, qubits=range(2, 17), draws=8000, seed=2, progress=False
    )
    assert_matches_closed_form(scan, cost)


@pytest.mark.slow
def test_hardware_efficient_scaling_up_to_12_qubits():
    """Eqs. (11)-(12) over n = 2..12 at log depth with 2,000 draws: the verdicts are decisive."""
    hea_scans_with_expected_verdicts(range(2, 13), draws=2000, seed=3)
