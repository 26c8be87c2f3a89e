"""``qnnlab audit``: decision rules on synthetic numbers, gradient statistics against the
variance module, specs and bad input, and end-to-end audits at tiny sizes (a QCNN on a 4-qubit
XXX dataset through the CLI, a user circuit on user states through ``qnnlab.audit`` with a
simulated kill, shadows as input), resuming, and the HTML report in headless Chromium.

Sizes are chosen so the whole file runs in about a minute on two cores: 4-qubit data, 16
gradient draws, 5 epochs, 500 snapshots per state. The numbers checked are structural (sizes,
probabilities, conservation of Pauli mass, equality of resumed and recomputed results) or exact
identities, never accuracies that depend on such short training.
"""

from __future__ import annotations

import json
import math
import re
import shutil

import jax
import numpy as np
import pytest

import qnnlab
import qnnlab.experiments.audit as audit_module
from qnnlab.analysis.audit_checks import (
    Finding,
    assess_simulability,
    assess_trainability,
    gradient_draws,
    gradient_statistics,
    learned_threshold,
    match_tolerance,
    shots_to_resolve,
)
from qnnlab.analysis.variance import gradient_samples
from qnnlab.circuits import Circuit, PauliSum
from qnnlab.cli import main
from qnnlab.data import load_dataset, random_mps
from qnnlab.experiments.audit import (
    AuditError,
    parse_spec,
    resolve_data,
    resolve_model,
    surrogate_weights,
    weight_cut_terms,
)
from qnnlab.models import hardware_efficient
from qnnlab.shadows import sample_shadow
from qnnlab.training.costs import AffineCost
from test_report_browser import _find_browser, _run_browser

TINY = ["--draws", "16", "--epochs", "5", "--shots-budget", "500", "--seed", "0"]


# ---------------------------------------------------------------------------------------------
# decision rules on synthetic numbers


N = np.array([4, 6, 8, 10, 12])
WIGGLE = 1 + 0.02 * np.array([1, -1, 1, -1, 1])  # 2 % scatter so the fits are not degenerate


@pytest.mark.parametrize(
    ("variance", "rel_err", "level", "rule"),
    [
        (0.2 * 0.5**N, 0.05, "bad", "exponential-decisive"),
        (0.2 * 0.7**N, 0.2, "warn", "exponential-substantial"),
        (0.5 * N**-2.0, 0.05, "ok", "power-law"),
        (0.5 * N**-1.5, 0.3, "warn", "inconclusive"),
        (0.01 * np.ones(5), 0.05, "ok", "no-decay"),
    ],
)
def test_trainability_rule(variance, rel_err, level, rule):
    finding, fits = assess_trainability(N, variance * WIGGLE, rel_err * variance)
    assert (finding.level, finding.rule) == (level, rule), finding
    numbers = finding.numbers
    assert fits is not None and numbers["delta_aic_raw"] == fits.delta_aic
    assert numbers["delta_aic"] == pytest.approx(fits.delta_aic / numbers["overdispersion"])
    if rule == "exponential-decisive":
        # b = 0.5 exactly up to the 2 % scatter; the extrapolation to n = 100 uses it
        assert finding.numbers["b"] == pytest.approx(0.5, abs=0.01)
        ext = finding.numbers["extrapolation"]["exponential"]
        assert ext["variance"] == pytest.approx(float(fits.predict("exponential", 100)))
        assert ext["shots"] == pytest.approx(1 / (2 * ext["variance"]))


def test_overdispersion_discounts_the_aic_difference():
    """Scatter of 20 % around 0.8^n with 2 % error bars: the raw chi^2 difference is large, but
    so is the better fit's chi^2 / dof, and the evidence is divided by it (QAIC)."""
    variance = 0.2 * 0.8**N * (1 + 0.2 * np.array([1, -1, 1, -1, 1]))
    finding, fits = assess_trainability(N, variance, 0.02 * variance)
    best = fits.exponential if fits.better == "exponential" else fits.power_law
    assert finding.numbers["overdispersion"] == pytest.approx(best.chi2 / 3)
    assert finding.numbers["overdispersion"] > 10
    assert finding.numbers["delta_aic"] == pytest.approx(fits.delta_aic * 3 / best.chi2)
    assert finding.numbers["delta_aic"] < 2 < fits.delta_aic
    assert finding.rule == "inconclusive" and "only larger sizes" in finding.reasons[1]


def test_trainability_rule_edge_cases():
    noisy = 0.01 * np.ones(5) * (1 + 0.5 * np.array([1, -1, 1, -1, 1]))
    finding, _ = assess_trainability(N, noisy, 0.5 * noisy)
    assert finding.rule == "noisy" and finding.numbers["b_err"] > 0.05
    finding, fits = assess_trainability([4, 6], [0.1, 0.05], [0.01, 0.01])
    assert (finding.level, finding.rule, fits) == ("warn", "too-few-sizes", None)
    assert "(≥ 10 shots per" in finding.reasons[2]  # 1 / (2 * 0.05)
    finding, fits = assess_trainability(N, [0.1, 0.05, 0.0, 0.02, 0.01], [0.01] * 5)
    assert (finding.rule, fits) == ("zero-variance", None)
    assert shots_to_resolve(0.0) == math.inf and shots_to_resolve(0.25) == 2.0


def test_simulability_thresholds():
    # 30 test states at chance 1/2: 2 sigma of a coin flip is 0.183 > the 0.10 margin
    assert learned_threshold(0.5, 30) == pytest.approx(0.5 + 2 * math.sqrt(0.25 / 30))
    assert learned_threshold(0.5, 10_000) == pytest.approx(0.6)
    assert match_tolerance(1.0, 1.0, 30) == 0.05
    assert match_tolerance(0.8, 0.8, 30) == pytest.approx(2 * math.sqrt(2 * 0.16 / 30))


@pytest.mark.parametrize(
    ("numbers", "level", "rule"),
    [
        ({"exact": 0.93, "classical": 0.95}, "warn", "classical-matches"),
        # 2 sigma of the difference: 2 sqrt(0.93 * 0.07 / 30) = 0.093 > 0.07 behind, 0.13 < 0.15
        ({"exact": 1.0, "classical": 0.93}, "warn", "classical-matches"),
        ({"exact": 1.0, "classical": 0.85}, "ok", "quantum-ahead"),
        ({"exact": 0.53, "classical": 0.57, "exact_train": 1.0}, "bad", "nothing-learned"),
        ({"exact": 1.0, "classical": 0.5, "reference": 0.97}, "warn", "reference-matches"),
        ({"exact": 1.0, "classical": 0.5, "reference": 0.6}, "ok", "quantum-ahead"),
        ({"exact": 1.0, "classical": 0.5}, "ok", "quantum-ahead"),
        ({"exact": None, "classical": 0.9}, "warn", "classical-only-learned"),
        ({"exact": None, "classical": 0.55}, "warn", "classical-only-chance"),
        ({"exact": None, "classical": None}, "warn", "no-data"),
    ],
)
def test_simulability_rule(numbers, level, rule):
    finding = assess_simulability(
        chance=0.5, n_test=30, snapshots=10_000, max_weight=2, n_states=100, **numbers
    )
    assert (finding.level, finding.rule) == (level, rule), finding
    assert finding.reasons and all(isinstance(r, str) for r in finding.reasons)
    if rule == "classical-matches":
        assert "1,000,000 single-shot measurements" in finding.reasons[1]
    if rule == "nothing-learned":
        assert "overfits" in finding.reasons[0]


def test_finding_refuses_unknown_level():
    with pytest.raises(ValueError, match="level must be one of"):
        Finding("great", "x", (), "r")


# ---------------------------------------------------------------------------------------------
# gradients


def test_gradient_draws_match_the_variance_module():
    circuit = hardware_efficient(3, 2)
    obs = PauliSum.single("Z0")
    grads = gradient_draws(circuit, obs, draws=12, seed=5)
    assert grads.shape == (12, circuit.n_params)
    key = jax.random.fold_in(jax.random.key(5), circuit.n_qubits)
    cost = AffineCost("readout", obs, 0.0, 1.0)
    last = circuit.n_params - 1
    column = gradient_samples(circuit, cost, draws=12, key=key, param_index=last)
    # same angles, same float32 simulation up to the order of operations
    np.testing.assert_allclose(grads[:, last], column, atol=2e-6)
    stats = gradient_statistics(grads, last)
    per_param = grads.var(axis=0, ddof=1)
    assert stats["variance"] == pytest.approx(per_param[last], rel=1e-12)
    assert stats["mean_variance"] == pytest.approx(per_param.mean(), rel=1e-12)
    # Z0 commutes with CZ, so of the 8 RY angles only those in its backward light cone through
    # the RY gates on qubit 0 and the CZ-coupled qubit 1 below them act: 3 of 8 survive.
    assert stats["zero_fraction"] == np.mean(per_param <= 1e-12) == 5 / 8


# ---------------------------------------------------------------------------------------------
# specs and bad input


def test_parse_spec_and_model_specs():
    assert parse_spec("xxx:qubits=12,ratio_range=[0.2,1.8],sampling=grid", "dataset") == (
        "xxx",
        [],
        {"qubits": 12, "ratio_range": [0.2, 1.8], "sampling": "grid"},
    )
    assert parse_spec("QCNN:so4, share=false", "model") == ("qcnn", ["so4"], {"share": False})
    model = resolve_model("qcnn:ry-cnot,layers=2")
    assert model.settings["conv_block"] == "ry-cnot" and model.settings["layers_per_scale"] == 2
    assert str(model.readout(model.circuit(6))) == "1*Z5"
    hea = resolve_model("hea:su4,layers=3")
    circuit = hea.circuit(4)
    assert circuit.n_params == 3 * 3 * 15 and str(hea.readout(circuit)) == "1*Z0"
    dqnn = resolve_model("dqnn:layers=2,window=global")
    circuit = dqnn.circuit(3)
    assert (circuit.n_qubits, len(circuit.input_qubits)) == (9, 3)
    assert str(dqnn.readout(circuit)) == "1*Z6" and dqnn.default_qubits == (2, 3, 4, 5, 6)
    assert weight_cut_terms(12, 2) == 1 + 36 + 594
    assert surrogate_weights(12, 2) == [1, 2, 3] and surrogate_weights(12, 3) == [1, 3]
    assert surrogate_weights(2, 2) == [1, 2]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("cnn", "unknown model 'cnn'"),
        ("qcnn:foo", "block='foo' in model spec 'qcnn:foo' is unknown"),
        ("qcnn:so4,bogus=1", "unknown option(s) ['bogus']"),
        ("hea:layers=0", "layers in model spec 'hea:layers=0' must be an integer >= 1"),
        ("dqnn:window=wide", "window in model spec"),
        (42, "model must be a spec string"),
    ],
)
def test_bad_model_specs(model, message):
    with pytest.raises(AuditError, match=re.escape(message)):
        resolve_model(model)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "cnn"], "unknown model 'cnn'"),
        (["--model", "qcnn:block=xyz"], "block='xyz'"),
        (["--model", "qcnn", "--dataset", "ising:qubits=4"], "unknown dataset 'ising:qubits=4'"),
        (
            ["--model", "qcnn", "--dataset", "xxx:qubits=4,samples=3"],
            "n_samples must be an even",
        ),
        (["--model", "qcnn", "--dataset", "xxx:qubits=4,colour=red"], "Unknown option(s)"),
        (["--model", "qcnn", "--shots-budget", "0"], "shots_budget must be an integer in [1,"),
        (["--model", "qcnn", "--qubits", "4..x"], "cannot read qubit counts"),
        (["--model", "qcnn", "--observable", "Z0"], "acts on qubit(s) [0] that are discarded"),
        (
            ["--model", "qcnn", "--dataset", "xxx:qubits=4,samples=4", "--max-weight", "5"],
            "max_weight 5 exceeds the 4 qubits",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        *argv,
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path),
        "--workers",
        "1",
        "--no-progress",
    ]
    code = main(["audit", *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("qnnlab audit: error: "), err
    assert message in err, err
    assert not (out / "checkpoints").exists()  # refused before any work


# ---------------------------------------------------------------------------------------------
# a QCNN on XXX through the CLI


@pytest.fixture(scope="module")
def cli_audit(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit-cli")
    out = root / "out"
    argv = ["audit", "--model", "qcnn", "--dataset", "xxx:qubits=4,samples=24"]
    argv += ["--qubits", "2,3,4", "--max-weight", "1", *TINY, "--no-progress"]
    argv += ["--out", str(out), "--cache-dir", str(root / "cache"), "--workers", "1"]
    assert main(argv) == 0
    return out, root


def test_cli_audit_writes_the_report_and_sane_numbers(cli_audit):
    out, _ = cli_audit
    for name in ("report.md", "report.html", "audit.json", "config.json", "log.txt"):
        assert (out / name).is_file(), name
    for name in ("trainability.png", "locality.png", "accuracy.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    doc = json.loads((out / "audit.json").read_text())
    assert doc["format"] == "qnnlab-audit" and doc["resumed"] == []
    tr = doc["sections"]["trainability"]
    assert tr["qubits"] == [2, 3, 4] and tr["fits"] is not None
    for r in tr["records"]:
        assert r["draws"] == 16 and r["param_name"] == "conv0[0]"
        assert 0 <= r["variance"] < 10 and 0 < r["mean_variance"] < 10
    # On 2 qubits conv0[0] is the first RZ of the only block, acting on |0>: zero gradient (up to
    # float32 rounding), so the verdict falls back to the mean over parameters.
    assert tr["records"][0]["variance"] <= 1e-12 and tr["records"][0]["zero_fraction"] > 0
    assert tr["primary_series"] == "mean" and tr["records"][1]["variance"] > 1e-3
    rnd = doc["sections"]["locality"]["random"]
    assert rnd["exact"] and rnd["draws"] == 8
    # untruncated conjugation keeps the squared mass of Z (= 1) in every draw
    assert sum(rnd["mass"]) == pytest.approx(1.0, abs=1e-9) and rnd["dropped"] == 0
    trained = doc["sections"]["locality"]["trained"]
    assert trained["source"] == "exact model" and sum(trained["mass"]) == pytest.approx(1.0)
    ex = doc["sections"]["exact_model"]
    assert ex["n_train"] + ex["n_test"] == 24 and ex["n_test"] == 8  # round(0.3 * 12) per class
    for key, count in (("train_accuracy", 16), ("test_accuracy", 8), ("init_test_accuracy", 8)):
        assert 0 <= ex[key] <= 1 and ex[key] * count == pytest.approx(round(ex[key] * count))
    sg = doc["sections"]["surrogate"]
    assert sg["snapshots"] == 500 and sg["chance"] == 0.5 and sg["weights"] == [1, 2]
    runs = {(r["k"], r["features"]): r for r in sg["runs"]}
    assert set(runs) == {(1, "shadows"), (2, "shadows"), (1, "exact")}
    assert runs[(1, "shadows")]["n_terms"] == 12  # the 12 weight-1 strings on 4 qubits
    assert runs[(1, "shadows")]["mean_feature_stderr"] > 0
    assert runs[(1, "exact")]["mean_feature_stderr"] is None
    verdict = doc["verdict"]
    assert verdict["trainability"]["level"] in ("ok", "warn", "bad")
    assert verdict["simulability"]["rule"] != "no-data"
    assert verdict["summary"].startswith(verdict["trainability"]["label"])
    md = (out / "report.md").read_text()
    assert "## 1\\. Trainability" in md and "report-figure-3.png" in md
    assert verdict["simulability"]["label"] in md


def test_dataset_forms_resolve_to_the_same_data(cli_audit):
    _, root = cli_audit
    (folder,) = (root / "cache").glob("datasets/xxx-n4-*")
    spec = resolve_data("xxx:qubits=4,samples=24", cache_dir=root / "cache", progress=False)
    by_folder, by_object = resolve_data(str(folder)), resolve_data(load_dataset(folder))
    assert spec.key == by_folder.key == by_object.key and spec.n_qubits == 4
    np.testing.assert_array_equal(by_folder.states, spec.states)
    mps = [random_mps(5, 2, seed=i) for i in range(4)]
    data = resolve_data((mps, [0, 1, 0, 1]))
    assert (data.n_qubits, data.dense, len(data)) == (5, False, 4)
    with pytest.raises(AuditError, match="normalised"):
        resolve_data((2 * np.eye(4)[:4], [0, 1, 0, 1]))
    with pytest.raises(
        AuditError,
        match="1 states of class 0 and 3 of class 1; a train/test split needs at least 2",
    ):
        resolve_data((np.eye(4), [0, 1, 1, 1]))


def test_cli_audit_report_renders_in_headless_chromium(cli_audit, tmp_path):
    browser = _find_browser()
    out, _ = cli_audit
    url = (out / "report.html").resolve().as_uri()
    dom = _run_browser(browser, tmp_path / "profile", "--dump-dom", url)
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None, dom[:2000]
    assert 'data-images-ok="true"' in body.group(0) and 'data-figures="3"' in body.group(0)
    assert "Is it trainable?" in dom and "Does it need a quantum computer?" in dom


def test_rerun_after_a_kill_loads_finished_sections(cli_audit, tmp_path, monkeypatch):
    """Copy of the CLI run as a kill after the exact model left it: no report, the weight-2
    surrogate not done. The rerun must load everything else (computing it raises here) and
    recompute the surrogate to the same numbers (every draw is seeded)."""
    out, root = cli_audit
    killed = tmp_path / "killed"
    shutil.copytree(out, killed)
    for name in ("report.md", "report.html", "audit.json"):
        (killed / name).unlink()
    (k2,) = killed.glob("checkpoints/*-surrogate-k2.json")
    k2.unlink()

    def recomputed(*args, **kwargs):
        raise AssertionError("a finished section was recomputed")

    for name in ("_gradient_record", "_locality_random", "_exact_model", "_locality_trained"):
        monkeypatch.setattr(audit_module, name, recomputed)
    result = qnnlab.audit(
        "qcnn",
        dataset="xxx:qubits=4,samples=24",
        qubits="2,3,4",
        max_weight=1,
        draws=16,
        epochs=5,
        shots_budget=500,
        out=killed,
        cache_dir=root / "cache",
        workers=1,
        progress=False,
    )
    expected = {"trainability-n2", "trainability-n3", "trainability-n4", "locality-random"}
    expected |= {"exact-model", "surrogate-k1", "surrogate-exact-k1", "locality-trained"}
    assert set(result.resumed) == expected
    original = json.loads((out / "audit.json").read_text())
    again = json.loads((killed / "audit.json").read_text())
    k2_old = next(r for r in original["sections"]["surrogate"]["runs"] if r["k"] == 2)
    k2_new = next(r for r in again["sections"]["surrogate"]["runs"] if r["k"] == 2)
    for key in ("n_terms", "test_accuracy", "train_accuracy", "baseline_test_accuracy"):
        assert k2_new[key] == k2_old[key], key
    assert again["verdict"] == original["verdict"]
    assert result.report_paths["html"].is_file()


# ---------------------------------------------------------------------------------------------
# a user circuit on user states, and shadows as input


def _user_problem(n_states: int = 24):
    """4 qubits; label 1 when qubit 0 leans to |1> (a local task), the rest random."""
    rng = np.random.default_rng(7)
    labels = np.repeat([0, 1], n_states // 2)
    states = []
    for y in labels:
        angle = rng.uniform(0.2, 1.2) + (np.pi - 1.4 if y else 0.0)
        first = np.array([np.cos(angle / 2), np.sin(angle / 2)])
        rest = rng.normal(size=8) + 1j * rng.normal(size=8)
        states.append(np.kron(first, rest / np.linalg.norm(rest)))
    circuit = Circuit(4, name="user-ry-cz")
    for q in range(4):
        circuit.ry(q, circuit.parameter(f"a{q}"))
    for q in range(3):
        circuit.cz(q, q + 1)
    for q in range(4):
        circuit.ry(q, circuit.parameter(f"b{q}"))
    return circuit, np.asarray(states), labels


def test_user_circuit_and_states_resume_after_a_kill(tmp_path, monkeypatch):
    circuit, states, labels = _user_problem()
    out = tmp_path / "out"
    kwargs = dict(dataset=(states, labels), draws=16, epochs=5, shots_budget=500, out=out)
    kwargs |= dict(max_weight=1, progress=False)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(audit_module, "_surrogate_run", killed)
        with pytest.raises(KeyboardInterrupt):
            qnnlab.audit(circuit, "Z0", **kwargs)
    done = sorted(p.name.split("-", 1)[1] for p in (out / "checkpoints").glob("*.json"))
    assert done == ["exact-model.json", "locality-random.json", "trainability-n4.json"]
    assert not (out / "report.html").exists()

    def recomputed(*args, **kwargs):
        raise AssertionError("a finished section was recomputed")

    monkeypatch.setattr(audit_module, "_gradient_record", recomputed)
    monkeypatch.setattr(audit_module, "_exact_model", recomputed)
    result = qnnlab.audit(circuit, "Z0", **kwargs)
    assert set(result.resumed) == {"trainability-n4", "locality-random", "exact-model"}
    assert result.verdict.trainability.rule == "too-few-sizes"
    assert "fixed circuit of 4 input qubits" in " ".join(result.verdict.trainability.reasons)
    sections = result.sections
    assert sections["trainability"]["qubits"] == [4]
    assert sections["exact_model"]["status"] == "done"
    assert {(r["k"], r["features"]) for r in sections["surrogate"]["runs"]} == {
        (1, "shadows"),
        (2, "shadows"),
        (1, "exact"),
    }
    assert str(result.verdict) == result.verdict.summary
    assert result.report_paths["markdown"].is_file()


def test_shadows_as_input_from_a_list_and_from_a_folder(tmp_path):
    circuit, states, labels = _user_problem()
    shadows = [sample_shadow(s, 300, seed=i) for i, s in enumerate(states)]
    out = tmp_path / "out"
    kwargs = dict(draws=16, epochs=5, shots_budget=10_000, out=out, max_weight=1, progress=False)
    result = qnnlab.audit(circuit, "Z0", (shadows, labels), **kwargs)
    ex, sg = result.sections["exact_model"], result.sections["surrogate"]
    assert ex["status"] == "skipped" and "only shadows" in ex["reason"]
    assert sg["snapshots"] == 300  # the budget is capped by the shadows given
    assert {r["features"] for r in sg["runs"]} == {"shadows"}
    assert result.sections["locality"]["trained"]["source"] == "weight-1 surrogate"
    assert result.verdict.simulability.rule.startswith("classical-only")

    folder = tmp_path / "shadows"
    for i, shadow in enumerate(shadows):
        shadow.save(folder / f"state-{i:03d}.npz")
    (folder / "labels.txt").write_text("\n".join(map(str, labels)) + "\n")
    again = qnnlab.audit(circuit, "Z0", str(folder), **kwargs)  # same data: everything loads
    assert result.resumed == () and set(again.resumed) == {
        "trainability-n4",
        "locality-random",
        "surrogate-k1",
        "surrogate-k2",
        "locality-trained",
    }
    assert again.verdict == result.verdict

    (folder / "labels.txt").unlink()
    with pytest.raises(AuditError, match=r"no labels\.txt"):
        qnnlab.audit(circuit, "Z0", str(folder), **kwargs)
    with pytest.raises(AuditError, match="24 states but 23 labels"):
        qnnlab.audit(circuit, "Z0", (shadows, labels[:-1]), **kwargs)
    with pytest.raises(AuditError, match="dataset has 4 qubits but the circuit takes 3"):
        qnnlab.audit(hardware_efficient(3, 1), None, (shadows, labels), **kwargs)


def test_gradient_statistics_refuses_a_parameter_out_of_range():
    from qnnlab.analysis.audit_checks import gradient_statistics

    grads = np.random.default_rng(0).normal(size=(10, 3))
    assert gradient_statistics(grads, 2)["variance"] > 0
    with pytest.raises(ValueError, match="out of range"):
        gradient_statistics(grads, 3)
