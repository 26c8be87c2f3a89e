"""``qucnn-train``: the quick run end to end (contract, learning, variance trend, resume) and
the statistics it is built from, checked against closed forms."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qnnlab.circuits.haar import haar_states
from qnnlab.experiments.qucnn_train import (
    MODELS,
    QuCNNTrainConfig,
    _overlap_grads,
    draw_statistics,
    haar_value_variance,
    report,
    resolved_layers,
    run_qucnn_train,
)


def test_small_run_contract_and_resume(tmp_path, mnist_dir):
    """The results contract and resume on a run smaller than --quick (default suite); the
    learning and variance claims are checked on the --quick run below (marked slow)."""
    config = QuCNNTrainConfig.quick().with_overrides(
        {
            "mnist_dir": str(mnist_dir),
            "models": ["qucnn", "classical-relu"],
            "n_train": 500,
            "n_eval": 200,
            "epochs": 1,
            "shot_train_images": 40,
            "variance_patch_sizes": [2, 4],
            "variance_layers": [2],
            "variance_draws": 20,
            "variance_loss_images": 0,
        }
    )
    out = tmp_path / "run"
    run_qucnn_train(config, out, progress=False, cache_dir=tmp_path / "cache")
    r = json.loads((out / "results.json").read_text())
    assert {"models", "shots", "variance", "timing", "verdict"} <= set(r)
    assert set(r["models"]) == {"qucnn", "classical-relu"}
    assert {m["n_params"]["conv"] for m in r["models"].values()} == {64}
    assert set(r["shots"]) == {"exact", "ancilla", "parameter-shift"}
    assert {p["n_qubits"] for p in r["variance"]["points"]} == {2, 4}
    for name in ("models.csv", "variance.csv", "learning_curves.png", "variance.png"):
        assert (out / name).stat().st_size > 50, name
    again = run_qucnn_train(config, out, progress=False, cache_dir=tmp_path / "cache")
    n_tasks = 2 + 2 + 3  # variance points, models, shot runs
    assert f"resuming: {n_tasks} of {n_tasks} tasks already done" in (out / "log.txt").read_text()
    assert again.results["models"] == r["models"]


@pytest.mark.slow
def test_quick_run_contract_learning_variance_and_resume(tmp_path, mnist_dir):
    config = QuCNNTrainConfig.quick().with_overrides({"mnist_dir": str(mnist_dir)})
    out = tmp_path / "run"
    run = run_qucnn_train(config, out, progress=False, cache_dir=tmp_path / "cache")
    r = json.loads((out / "results.json").read_text())
    assert {"models", "shots", "variance", "timing", "verdict"} <= set(r)
    for name in ("models.csv", "curves.csv", "shots.csv", "variance.csv", "variance_fits.csv"):
        assert (out / name).stat().st_size > 50, name
    for name in ("learning_curves.png", "variance.png"):
        assert (out / name).stat().st_size > 20_000, name

    models = r["models"]
    assert set(models) == set(MODELS)
    # 4 filters x 16 angles (4 qubits, 2 layers) = 4 filters x 16 weights of a 4x4 filter
    assert {m["n_params"]["conv"] for m in models.values()} == {64}
    assert len({m["n_params"]["total"] for m in models.values()}) == 1
    q = models["qucnn"]
    for key in ("eval_accuracy", "epoch_seconds", "n_params", "curves"):
        assert key in q
    assert len(q["curves"]["eval_acc_mean"]) == config.epochs
    # The zero head predicts one class: ~10% on the stratified split. After 20 Adam steps the
    # quick run reaches ~0.65; 0.3 is far above chance and the initial accuracy.
    init = q["init_eval_accuracy"]["mean"]
    assert init < 0.15
    assert q["eval_accuracy"]["mean"] > max(0.3, init + 0.15)
    # frozen filters never move (Adam with zero gradient); trained ones do
    assert models["qucnn-frozen"]["filter_change"] == 0.0
    assert q["filter_change"] > 1e-3

    shots = r["shots"]
    assert set(shots) == {"exact", "ancilla", "parameter-shift"}
    for routine in ("ancilla", "parameter-shift"):
        assert shots[routine]["shots"] == config.shots
        assert shots[routine]["eval_exact"]["accuracy"] > shots[routine]["init_eval"]["accuracy"]

    variance = r["variance"]
    for layers_setting in config.variance_layers:
        points = {
            p["n_qubits"]: p["mnist"]["gradient_all"]
            for p in variance["points"]
            if p["layers"] == resolved_layers(p["n_qubits"], layers_setting)
        }
        small, large = points[2], points[4]
        # a decrease by many standard errors (measured ratio ~10)
        assert large["variance"] + 5 * large["stderr"] < small["variance"] - 5 * small["stderr"]
    fits = [f for f in variance["fits"] if f["data"] == "mnist" and f["quantity"] == "gradient_all"]
    assert len(fits) == len(config.variance_layers)
    assert all(f["slope"] < 0 for f in fits)
    ref = variance["haar_value_reference"]
    assert ref["variance"][0] == pytest.approx(3 / 80, rel=1e-12)  # d = 4: 3 / (16 * 5)
    assert isinstance(r["verdict"], str) and "QuCNN trains" in r["verdict"]
    assert report(run)[-1] == r["verdict"]

    # resume: every task is checkpointed; a rerun recomputes nothing and gives the same numbers
    again = run_qucnn_train(config, out, progress=False, cache_dir=tmp_path / "cache")
    n_tasks = len(variance["points"]) + len(MODELS) + len(shots)  # 3 + 4 + 3
    assert f"resuming: {n_tasks} of {n_tasks} tasks already done" in (out / "log.txt").read_text()
    assert again.results["models"]["qucnn"]["curves"] == q["curves"]
    assert again.results["variance"] == variance


def test_haar_value_variance_is_the_beta_variance(rng):
    """|<f|x>|^2 for Haar |f> in C^d is Beta(1, d-1): check mean 1/d and the variance formula
    against 20,000 Haar draws (standard error of the sample variance ~1.5%)."""
    d = 8
    f = haar_states(20_000, d, rng)
    y = np.abs(f[:, 0]) ** 2
    assert y.mean() == pytest.approx(1 / d, rel=0.02)
    stats = draw_statistics(y)
    assert abs(stats["variance"] - haar_value_variance(3)) < 4 * stats["stderr"]
    assert haar_value_variance(3) == pytest.approx(7 / (64 * 9), rel=1e-12)


def test_draw_statistics_closed_form():
    # two draws x two components: variance per component (ddof 1), averaged
    g = np.array([[1.0, 0.0], [3.0, 4.0]])
    stats = draw_statistics(g)
    assert stats["variance"] == pytest.approx((2.0 + 8.0) / 2)
    assert stats["max_abs_mean"] == pytest.approx(2.0)


def test_overlap_gradients_match_the_exact_shift_rule():
    """Every angle enters |<f|x>|^2 as a + b cos t + c sin t, so the derivative is exactly
    (y(t + pi/2) - y(t - pi/2)) / 2; float32 rounding bounds the difference (1e-5)."""
    k, layers = 2, 2
    key = jax.random.key(3)
    theta = jax.random.uniform(key, (5, 2 * k * layers), jnp.float32, 0, 2 * math.pi)
    states = jnp.asarray(haar_states(3, 2**k, np.random.default_rng(4)), jnp.complex64)
    values, grads = _overlap_grads(k, layers, theta, states)
    assert grads.shape == (5, 3, 2 * k * layers)
    for j in range(theta.shape[1]):
        shift = jnp.zeros_like(theta).at[:, j].set(math.pi / 2)
        plus, _ = _overlap_grads(k, layers, theta + shift, states)
        minus, _ = _overlap_grads(k, layers, theta - shift, states)
        np.testing.assert_allclose(grads[..., j], (plus - minus) / 2, atol=1e-5)
    assert np.all((np.asarray(values) >= 0) & (np.asarray(values) <= 1 + 1e-6))


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"layers": 3}, "2 \\* qubits \\* layers = kernel_size\\^2"),
        ({"models": ["qucnn", "cnn"]}, "unknown models"),
        ({"variance_patch_sizes": [4]}, "fewer than 2 qubit counts"),
        ({"variance_patch_sizes": [2, 32]}, "not supported"),
        ({"n_train": 9000}, "exceeds the 10000 images"),
        ({"shot_train_images": 10}, "shot_train_images must lie in"),
        ({"learning_rate": -0.1}, "learning_rate must be > 0"),
    ],
)
def test_config_errors(override, match):
    with pytest.raises(ValueError, match=match):
        QuCNNTrainConfig().with_overrides(override)
