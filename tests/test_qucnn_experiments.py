"""The QuCNN forward-pass (paper Fig. 3) and gradient (paper Fig. 4) experiments end to end with
their quick presets: the results contract, the physics checks, and resuming from checkpoints."""

import dataclasses
import json

import numpy as np
import pytest

from qnnlab.experiments import qucnn_forward, qucnn_gradient
from qnnlab.experiments.qucnn_forward import QuCNNForwardConfig, run_qucnn_forward
from qnnlab.experiments.qucnn_gradient import QuCNNGradientConfig, run_qucnn_gradient


def _log(run) -> str:
    return (run.directory / "log.txt").read_text()


def test_forward_quick_contract_physics_and_resume(tmp_path, mnist_dir):
    cfg = dataclasses.replace(QuCNNForwardConfig.quick(), mnist_dir=str(mnist_dir)).validate()
    out, cache = tmp_path / "forward", tmp_path / "cache"
    run = run_qucnn_forward(cfg, out, progress=False, cache_dir=cache)
    for name in ("config.json", "results.json", "per_image.csv", "maps.npz"):
        assert (out / name).exists(), name
    assert (out / "maps.png").stat().st_size > 20_000
    r = json.loads((out / "results.json").read_text())
    assert len(r["correlation"]) == len(r["rmse"]) == len(r["max_abs_error"]) == cfg.n_images
    # y_hat = y + noise of variance (1 - y^2)/S <= 1e-4 at 10k shots, while the maps spread over
    # [0, 1] between empty and bright windows: the correlation is ~0.99 (0.9 is the contract)
    assert min(r["correlation"]) > 0.9
    # the SWAP test *is* the normalised squared convolution: only float32 rounding differs
    assert r["exact_vs_classical_max_diff"] < 1e-5
    assert r["circuit_route_max_error"] < 1e-5
    assert r["circuit_route_checked_windows"] > 100
    # measured RMSE against the shot-noise prediction: with >= 150 occupied windows per image
    # the RMSE's relative spread is about 1/sqrt(2 * 150) = 6%, so 25% is a 4-sigma band
    ratio = np.asarray(r["rmse"]) / np.asarray(r["expected_shot_rmse"])
    assert np.all(np.abs(ratio - 1) < 0.25), ratio
    assert np.all(np.asarray(r["max_abs_error"]) < 6 / np.sqrt(cfg.shots))  # 6 sigma, sigma <= 1%
    assert r["classical_eval_accuracy"] > 0.15  # 20 Adam steps lift one filter above chance (0.1)
    assert r["swap_test_seconds"] > 0 and r["classical_training_seconds"] > 0
    assert r["swap_test_run_seconds"] < 2.0  # 40,000 binomial draws once compiled
    maps = np.load(out / "maps.npz")
    assert maps["quantum"].shape == maps["classical"].shape == (cfg.n_images, 25, 25)
    lines = (out / "per_image.csv").read_text().splitlines()
    assert len(lines) == cfg.n_images + 1 and lines[0].startswith("index,label")
    assert any("SWAP-test step" in line for line in qucnn_forward.report(run))
    # resume: both tasks come from their checkpoints (the stored timings are reused as they are)
    again = run_qucnn_forward(cfg, out, progress=False, cache_dir=cache)
    assert _log(again).count("resuming: 1 of 1 tasks already done") == 2
    assert again.results["swap_test_seconds"] == r["swap_test_seconds"]
    assert again.results["correlation"] == r["correlation"]


def test_gradient_quick_contract_physics_and_resume(tmp_path, mnist_dir):
    cfg = dataclasses.replace(QuCNNGradientConfig.quick(), mnist_dir=str(mnist_dir)).validate()
    out, cache = tmp_path / "gradient", tmp_path / "cache"
    run = run_qucnn_gradient(cfg, out, progress=False, cache_dir=cache)
    for name in ("config.json", "results.json", "errors.csv", "gradients.csv"):
        assert (out / name).exists(), name
    assert (out / "gradient.png").stat().st_size > 50_000
    r = json.loads((out / "results.json").read_text())
    shots, err = np.asarray(r["shots"]), np.asarray(r["relative_error"])
    assert list(shots) == list(cfg.shots) and np.all(np.diff(shots) > 0)
    assert len(err) == len(shots)
    # ||G_hat - G|| ~ S^(-1/2): a factor sqrt(10) per step, while the mean of 4 norms of a
    # 16-dimensional noise vector scatters by ~9%; over two decades the fitted slope's spread is
    # ~0.03, so [-0.7, -0.3] is a > 6-sigma band around -1/2
    assert np.all(np.diff(err) < 0)
    slope = np.polyfit(np.log(shots), np.log(err), 1)[0]
    assert -0.7 <= slope <= -0.3
    assert r["slope"] == pytest.approx(slope)
    cases = r["cases"]
    mnist = cases["mnist"]
    # exact gradient: autodiff = ancilla_gradient(shots=None) = postprocessed_gradient(None) =
    # shift-rule sums of the circuit values, to float32 rounding
    assert set(mnist["checks"]) >= {
        "ancilla_gradient_exact_vs_autodiff",
        "postprocessed_gradient_exact_vs_autodiff",
    }
    assert max(mnist["checks_relative"].values()) < 1e-5
    assert mnist["exact_norm"] > 0 and mnist["n_patches"] > 100
    # measured rms error vs the binomial prediction: 4 repeats x 16 components give a ~9%
    # relative spread of the rms, so +-35% is a 4-sigma band
    for case in qucnn_gradient.CASES:
        for routine in qucnn_gradient.ROUTINES:
            block = cases[case][routine]
            ratio = np.asarray(block["rms_error"]) / np.asarray(block["expected_rms_error"])
            assert np.all(np.abs(ratio - 1) < 0.35), (case, routine, ratio)
            assert -0.7 <= block["slope"] <= -0.3, (case, routine)
    # I/16: Tr(|f><f| I/16) = 1/16 for every theta, so the density engine's exact gradient is 0
    mixed = cases["maximally-mixed"]
    assert mixed["error_metric"] == "absolute" and mixed["engine"] == "density"
    assert np.max(np.abs(mixed["gradient_from_circuit_values"]["ancilla"])) < 1e-6
    assert np.max(np.abs(mixed["exact_gradient"])) == 0.0
    uniform = cases["uniform-superposition"]
    assert uniform["exact_norm"] > 1e-3 and max(uniform["checks_relative"].values()) < 1e-5
    assert len(qucnn_gradient.report(run)) >= 7
    # resume: every task comes from its checkpoint, with its stored timing
    again = run_qucnn_gradient(cfg, out, progress=False, cache_dir=cache)
    log = _log(again)
    assert "resuming: 3 of 3 tasks already done" in log
    assert f"resuming: {3 * len(shots)} of {3 * len(shots)} tasks already done" in log
    assert again.results["seconds"] == r["seconds"]
    assert again.results["relative_error"] == r["relative_error"]


@pytest.mark.slow
def test_gradient_sampler_equals_ancilla_gradient(tmp_path, mnist_dir):
    """The experiment's sampler draws the same counts as ``ancilla_gradient(shots=S, seed=key)``
    (same keys, same binomial call): the estimates agree to float32 summation rounding."""
    cfg = dataclasses.replace(
        QuCNNGradientConfig.quick(), mnist_dir=str(mnist_dir), shots=(100, 1000), verify_shots=100
    ).validate()
    run = run_qucnn_gradient(cfg, tmp_path / "g", progress=False, cache_dir=tmp_path / "cache")
    check = run.results["sampler_check"]
    assert check["shots"] == 100 and check["api_error_norm"] > 0
    # one flipped count would move a component by max|g| / S (about 1e-4 here), far above the
    # float32 rounding of summing ~200 patches that this bound allows
    flip = run.results["cases"]["mnist"]["g_scale"] / check["shots"]
    assert check["max_abs_diff"] < min(1e-5, flip / 10)
