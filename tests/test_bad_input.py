"""Bad input is refused with a one-line error before any work or memory is spent on it.

The command-line table runs ``qnnlab.cli.main`` in this process and checks the exit status,
that stderr is exactly one line ``qnnlab COMMAND: error: ...`` naming the problem, that no
traceback is printed, and that the refusal is quick and allocates little (``tracemalloc`` peak;
the huge inputs here would need gigabytes). The API tests check the same limits where the
library is called directly.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import time
import tracemalloc

import numpy as np
import pytest

import qnnlab.analysis.variance
import qnnlab.circuits.circuit as circuit_module
import qnnlab.data.datasets  # noqa: F401
from qnnlab.analysis.dqnn_variance import MAX_HIDDEN_LAYERS, DQNNVarianceConfig
from qnnlab.analysis.variance import VarianceScanConfig, parse_qubits
from qnnlab.checks import MAX_SEED, check_int, check_real, check_seed
from qnnlab.circuits.circuit import MAX_OPERATIONS, MAX_QUBITS, Circuit, CircuitError
from qnnlab.cli import describe_error, main, parse_setting
from qnnlab.data.hamiltonians import HamiltonianError, bond_alternating_xxx, cluster_ising
from qnnlab.data.phases import DatasetConfigError, resolve_config
from qnnlab.data.topological import topological_dataset, topological_sample
from qnnlab.experiments.dqnn_learning import DQNNLearningConfig
from qnnlab.experiments.dqnn_trainability import DQNNTrainabilityConfig
from qnnlab.experiments.qcnn_phases import QCNNPhasesConfig
from qnnlab.experiments.qcnn_topological import QCNNTopologicalConfig
from qnnlab.models.ansatz import ansatz_n_params, build_ansatz, hardware_efficient
from qnnlab.models.dqnn import dqnn_architecture, fig3b_dqnn
from qnnlab.models.qcnn import qcnn
from qnnlab.shadows import (
    ClassicalShadow,
    local_pauli_features,
    local_pauli_table,
    sample_shadow,
)

#: A refusal may take this long (seconds) and allocate this much (bytes, Python and NumPy).
FAST_S = 10.0
SMALL_BYTES = 64 * 2**20

CONFIGS = (DQNNLearningConfig, DQNNTrainabilityConfig, QCNNPhasesConfig, QCNNTopologicalConfig)


def _run(argv, capsys) -> tuple[int, str, float, int]:
    """``main(argv)`` -> (exit status, stderr, seconds, peak traced bytes)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        code = main(argv)
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return code, capsys.readouterr().err, seconds, peak


def _assert_one_line(err: str, command: str, *needles: str) -> None:
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"qnnlab {command}: error: "), err
    for needle in needles:
        assert needle in err, (needle, err)


def _build(tmp_path, *extra: str, name: str = "xxx") -> list[str]:
    return [
        "dataset",
        "build",
        name,
        "--qubits",
        "8",
        "--samples",
        "4",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--workers",
        "1",
        "--no-progress",
        *extra,
    ]


def _variance(tmp_path, *extra: str) -> list[str]:
    return ["variance", "--qubits", "2", "--draws", "8", "--no-progress", *extra]


# ----------------------------------------------------------------------- bad values and sizes
BAD_VALUES = [
    # sizes checked from the arguments, before anything is allocated
    (("variance", "--qubits", "2..1000000000"), "variance", ["1000000000", "limit 26"]),
    (("variance", "--qubits", "2,1000000000000"), "variance", ["limit 26"]),
    (("variance", "--ansatz", "hea", "--layers", "100000000"), "variance", ["layers", "1000"]),
    (
        ("variance", "--ansatz", "dqnn-haar", "--hidden-layers", "1000000"),
        "variance",
        ["--hidden-layers", str(MAX_HIDDEN_LAYERS)],
    ),
    (("variance", "--ansatz", "dqnn-haar", "--n-out", str(10**18)), "variance", ["n_out"]),
    (("variance", "--draws", str(10**12)), "variance", ["draws"]),
    (("dataset", "--samples", "2000000000"), "dataset", ["n_samples=2000000000", "100000"]),
    (("dataset", "--qubits", "1000000000"), "dataset", ["n_qubits=1000000000"]),
    # seeds: numpy needs >= 0, jax.random.key < 2**63
    (("variance", "--seed", str(2**64)), "variance", ["seed", "2**63 - 1"]),
    (("variance", "--seed", "-1"), "variance", ["seed"]),
    (("dataset", "--seed", str(2**64)), "dataset", ["seed", "2**63 - 1"]),
    # non-finite JSON and nonsense couplings
    (("dataset", "--option", "ratio_range=[0,Infinity]"), "dataset", ["--option", "ratio_range"]),
    (("dataset", "--option", "ratio_range=[0,1e999]"), "dataset", ["--option", "ratio_range"]),
    (("dataset", "--option", "exclusion=-Infinity"), "dataset", ["exclusion"]),
    (("dataset", "--option", "j1=0"), "dataset", ["j1", "> 0"]),
    (("dataset", "--option", "j1=-1"), "dataset", ["j1", "> 0"]),
    (("dataset", "--option", "j1=nan"), "dataset", ["j1", "finite"]),
    (("cluster", "--option", "j=NaN"), "dataset", ["--option", "j=NaN"]),
    (("cluster", "--option", "j=0"), "dataset", ["j must be", "> 0"]),
    (("cluster", "--option", "exclusion=1"), "dataset", ["exclusion"]),
    (("toric", "--option", "strength=nan"), "dataset", ["strength"]),
    (("toric", "--option", "layers=1.5"), "dataset", ["layers"]),
    (("toric", "--option", "layers=1000000000"), "dataset", ["layers"]),
    # experiment settings
    (
        ("reproduce", "qcnn-topological", "--set", "learning_rate=Infinity"),
        "reproduce",
        ["--set", "learning_rate"],
    ),
    (("reproduce", "qcnn-topological", "--set", "learning_rate=inf"), "reproduce", ["--set"]),
    (
        ("reproduce", "qcnn-topological", "--set", 'learning_rate="0.1"'),
        "reproduce",
        ["learning_rate must be a finite number"],
    ),
    (("reproduce", "qcnn-topological", "--set", "epochs=10000000000"), "reproduce", ["epochs"]),
    (("reproduce", "qcnn-topological", "--set", "dataset_seed=-1"), "reproduce", ["seed"]),
    (
        ("reproduce", "qcnn-topological", "--set", "perturbation_layers=100000"),
        "reproduce",
        ["perturbation_layers"],
    ),
    (
        ("reproduce", "qcnn-phases", "--set", 'dataset_options={"xxx": {"j1": -1}}'),
        "reproduce",
        ["dataset_options['xxx']", "j1"],
    ),
    (("reproduce", "dqnn-learning", "--set", "eps=1e999"), "reproduce", ["--set", "eps"]),
    (("reproduce", "qcnn-topological", "--set", "qubits"), "reproduce", ["--set", "KEY=VALUE"]),
    (("reproduce", "qcnn-topological", "--set", "=3"), "reproduce", ["--set", "no KEY"]),
    (("dataset", "--option", "exclusion"), "dataset", ["--option", "KEY=VALUE"]),
]


def _argv(case: tuple, tmp_path) -> list[str]:
    kind, *rest = case
    if kind == "variance":
        return _variance(tmp_path, *rest)
    if kind == "reproduce":
        return ["reproduce", *rest, "--dry-run"]
    name = {"dataset": "xxx", "cluster": "cluster-ising", "toric": "toric-vs-semion"}[kind]
    argv = _build(tmp_path, *rest, name=name)
    if name == "toric-vs-semion":
        argv[argv.index("--qubits") + 1] = "12"
    return argv  # a repeated flag overrides the earlier one


@pytest.mark.parametrize(("case", "command", "needles"), BAD_VALUES, ids=lambda c: str(c))
def test_bad_values_are_one_line_errors_before_any_work(case, command, needles, tmp_path, capsys):
    code, err, seconds, peak = _run(_argv(case, tmp_path), capsys)
    assert code == 2
    _assert_one_line(err, command, *needles)
    assert seconds < FAST_S and peak < SMALL_BYTES, (seconds, peak)
    assert not (tmp_path / "cache").exists()  # refused before any folder was made


# ------------------------------------------------------------------- refusals of the environment
def test_out_an_existing_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, err, _, _ = _run(_variance(tmp_path, "--out", str(afile)), capsys)
    assert code in (1, 2)
    _assert_one_line(err, "variance", str(afile))
    code, err, _, _ = _run(
        ["reproduce", "qcnn-topological", "--quick", "--out", str(afile), "--no-progress"], capsys
    )
    assert code in (1, 2)
    _assert_one_line(err, "reproduce", str(afile))


def test_cache_dir_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    argv = _build(tmp_path)
    argv[argv.index("--cache-dir") + 1] = str(afile)
    code, err, _, _ = _run(argv, capsys)
    assert code in (1, 2)
    _assert_one_line(err, "dataset", str(afile))


def test_unwritable_folder(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):  # as for a folder without write permission (even as root)
        if str(self).startswith(str(locked)):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    code, err, _, _ = _run(_variance(tmp_path, "--out", str(locked / "run")), capsys)
    assert code == 1
    _assert_one_line(err, "variance", "Permission denied", str(locked), "write to")


def test_unreachable_scheduler(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QNNLAB_SCHEDULER_TIMEOUT", "1")
    code, err, seconds, _ = _run(_build(tmp_path, "--scheduler", "tcp://127.0.0.1:1"), capsys)
    assert code in (1, 2)
    _assert_one_line(err, "dataset", "tcp://127.0.0.1:1")
    assert seconds < FAST_S


@pytest.mark.parametrize(
    ("error", "status", "needles"),
    [
        (FileExistsError(17, "File exists", "/r/out"), 1, ["File exists: /r/out", "in the way"]),
        (PermissionError(13, "Permission denied", "/r"), 1, ["/r", "write to"]),
        (NotADirectoryError(20, "Not a directory", "/f/x"), 1, ["/f/x", "folder is needed"]),
        (ConnectionRefusedError(111, "Connection refused"), 1, ["refused", "--scheduler"]),
        (OSError("Timed out trying to connect to tcp://h:1\nafter 30 s"), 1, ["tcp://h:1 after"]),
        (ValueError("bad\nvalue"), 2, ["bad value"]),
    ],
)
def test_describe_error_is_one_line_with_the_path_and_a_fix(error, status, needles):
    code, message = describe_error(error)
    assert code == status and "\n" not in message
    for needle in needles:
        assert needle in message


def test_bugs_keep_their_traceback_and_debug_shows_it(monkeypatch, tmp_path):
    assert describe_error(RuntimeError("bug")) is None
    assert describe_error(OverflowError("bug")) is None

    def broken(args):
        raise KeyError("a bug, not bad input")

    monkeypatch.setattr("qnnlab.cli._dataset_info", broken)
    with pytest.raises(KeyError):
        main(["dataset", "info", str(tmp_path)])
    with pytest.raises(ValueError, match="--set expects KEY=VALUE"):
        main(["--debug", "reproduce", "qcnn-topological", "--set", "qubits"])


# ------------------------------------------------------------------------ strict JSON values
@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("ratio_range=[0.2,1.8]", ("ratio_range", [0.2, 1.8])),
        ("sampling=grid", ("sampling", "grid")),
        ("chi-max=8", ("chi_max", 8)),
        ("j1=1e300", ("j1", 1e300)),
        ("name=", ("name", "")),
    ],
)
def test_setting_values_are_json_or_strings(text, parsed):
    assert parse_setting(text, "--option") == parsed


@pytest.mark.parametrize(
    "text",
    ["j=NaN", "j=-Infinity", "r=[0,Infinity]", "r=[0,1e999]", 'r={"a":[NaN]}', "j=inf", "j=nan"],
)
def test_non_finite_setting_values_are_refused_naming_flag_and_key(text):
    with pytest.raises(ValueError, match=rf"^--set {text.split('=')[0]}=") as info:
        parse_setting(text, "--set")
    assert "finite" in str(info.value)


# ------------------------------------------------------------------------------ the checks
def test_checks_refuse_bools_non_finite_and_out_of_range():
    assert check_int("n", np.int64(3), minimum=1) == 3
    assert check_real("x", 1, minimum=0, min_open=True) == 1.0
    assert check_seed("seed", MAX_SEED) == MAX_SEED
    for bad in (True, 2.0, "2", None):
        with pytest.raises(ValueError, match="n must be an integer"):
            check_int("n", bad)
    for bad in (math.nan, math.inf, -math.inf, 10**400, True, "1"):
        with pytest.raises(ValueError, match="x must be a finite number"):
            check_real("x", bad)
    with pytest.raises(ValueError, match=r"x must be a finite number > 0, got 0"):
        check_real("x", 0, minimum=0, min_open=True)
    with pytest.raises(ValueError, match=r"in \[0, 2\*\*63 - 1\]"):
        check_seed("seed", MAX_SEED + 1)
    with pytest.raises(ValueError, match=r"characters\)\.$"):  # a huge value is cut short
        check_seed("seed", 10**1000)


def test_parse_qubits_checks_ranges_before_building_them():
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="above the limit 26"):
            parse_qubits("2..1000000000", maximum=26)
        with pytest.raises(ValueError, match="more than 1024"):
            parse_qubits("-1000000000..4")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    with pytest.raises(ValueError, match="cannot read"):
        parse_qubits("2..12:0")
    assert parse_qubits("2..26", maximum=26) == list(range(2, 27))


# ------------------------------------------------------------------------ circuits and models
@pytest.mark.parametrize(
    "build",
    [
        lambda: Circuit(10**10),
        lambda: Circuit(MAX_QUBITS + 1),
        lambda: Circuit(True),
        lambda: hardware_efficient(10, 10**8),
        lambda: hardware_efficient(10**10),
        lambda: build_ansatz("toy-ry", 10**10),
        lambda: qcnn(8, layers_per_scale=10**8),
        lambda: qcnn(10**10),
        lambda: dqnn_architecture([10**9, 10**9]),
        lambda: fig3b_dqnn(10**5, 10**5),
    ],
)
def test_huge_circuits_are_refused_before_they_are_built(build):
    start = time.perf_counter()
    with pytest.raises(CircuitError, match="at most"):
        build()
    assert time.perf_counter() - start < 1.0


def test_a_circuit_refuses_operations_beyond_its_limit(monkeypatch):
    assert MAX_OPERATIONS >= 10**6
    monkeypatch.setattr(circuit_module, "MAX_OPERATIONS", 3)
    circuit = Circuit(2).h(0).h(1).cz(0, 1)
    with pytest.raises(CircuitError, match="at most 3 operations"):
        circuit.h(0)
    with pytest.raises(CircuitError, match="at most 3 operations"):
        circuit.discard(0)
    assert len(circuit.operations) == 3


@pytest.mark.parametrize(
    ("name", "n", "layers", "block"),
    [
        ("toy-ry", 5, None, "ry-cz"),
        ("dqnn-swap-ry", 3, None, "ry-cz"),
        ("hea", 1, 3, "ry-cz"),
        ("hea", 6, None, "ry-cz"),
        ("hea", 5, 2, "su4"),
    ],
)
def test_ansatz_n_params_predicts_the_built_circuit(name, n, layers, block):
    assert ansatz_n_params(name, n, layers, block) == build_ansatz(name, n, layers, block).n_params


# ---------------------------------------------------------------------------- scan configs
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": 2**63}, "seed"),
        ({"seed": -1}, "seed"),
        ({"draws": 10**9}, "draws"),
        ({"draws": 4.0}, "draws"),
        ({"qubits": [True, 2]}, "distinct positive"),
        ({"ansatz": "hea", "layers": 10**8}, "layers"),
        ({"ansatz": "hea", "layers": 1000, "qubits": [26], "draws": 10**6}, "GiB"),
        ({"dtype": "float16"}, "dtype"),
    ],
)
def test_variance_scan_config_limits(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VarianceScanConfig(**kwargs).validate()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": [None] * (MAX_HIDDEN_LAYERS + 1)}, "hidden layers"),
        ({"n_out": 10**18}, "n_out"),
        ({"hidden": [10**18]}, "hidden widths"),
        ({"qubits": [10**9]}, "beyond the Haar sampler"),
        ({"pairs": 10**100}, "pairs"),
        ({"seed": 2**64}, "seed"),
        ({"draws": 10**9}, "draws"),
    ],
)
def test_dqnn_variance_config_limits(kwargs, message):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        DQNNVarianceConfig(**kwargs).validate()
    assert time.perf_counter() - start < 1.0


# ---------------------------------------------------------------------- experiment configs
def _numeric_fields(config_type):
    for f in dataclasses.fields(config_type):
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        if kind in ("float", "int"):
            yield config_type, f.name, kind


NUMERIC_FIELDS = [case for cls in CONFIGS for case in _numeric_fields(cls)]


@pytest.mark.parametrize(
    ("config_type", "name", "kind"), NUMERIC_FIELDS, ids=lambda v: getattr(v, "__name__", v)
)
def test_every_numeric_setting_refuses_non_finite_bool_and_huge(config_type, name, kind):
    bad = [math.nan, math.inf, -math.inf, True, "1"]
    bad += [2**63 if "seed" in name else 10**7, -1] if kind == "int" else [1e308 * 10]
    for value in bad:
        with pytest.raises(ValueError, match=name):
            config_type().with_overrides({name: value})


@pytest.mark.parametrize(
    ("config_type", "overrides", "message"),
    [
        (QCNNTopologicalConfig, {"learning_rate": math.inf}, "learning_rate must be a finite"),
        (QCNNPhasesConfig, {"learning_rate": math.nan}, "learning_rate"),
        (QCNNPhasesConfig, {"val_fraction": math.nan}, "val_fraction"),
        (QCNNPhasesConfig, {"qubits": [8, 10**9]}, "qubits"),
        (QCNNPhasesConfig, {"dataset_options": {"xxx": {"j1": 0}}}, r"dataset_options\['xxx'\]"),
        (QCNNPhasesConfig, {"dataset_options": {"xxx": {"ratio_range": [0, math.inf]}}}, "ratio"),
        (QCNNTopologicalConfig, {"perturbation_layers": 10**5}, "perturbation_layers"),
        (DQNNLearningConfig, {"networks": [[1, 10**9, 1]]}, "networks|10 qubits"),
        (DQNNLearningConfig, {"eps": math.inf}, "eps"),
        (DQNNTrainabilityConfig, {"theorem1_qubits": [2, 10**9]}, "theorem1_qubits|n <= 10"),
    ],
)
def test_experiment_configs_refuse_nonsense(config_type, overrides, message):
    with pytest.raises(ValueError, match=message):
        config_type().with_overrides(overrides)


# ------------------------------------------------------------------------------- datasets
@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("xxx", 8, 2), {"j1": 0}, "j1 must be a finite number > 0"),
        (("xxx", 8, 2), {"j1": -1}, "j1 must be a finite number > 0"),
        (("xxx", 8, 2), {"j1": math.nan}, "j1"),
        (("xxx", 8, 2), {"j1": "nan"}, "j1"),
        (("xxx", 8, 2), {"ratio_range": [0, math.inf]}, "ratio_range"),
        (("xxx", 8, 2), {"ratio_range": [0, 10**400]}, "ratio_range"),
        (("xxx", 8, 2), {"exclusion": math.nan}, "exclusion"),
        (("cluster-ising", 8, 2), {"j": math.nan}, "j"),
        (("cluster-ising", 8, 2), {"j": 0}, "j must be a finite number > 0"),
        (("cluster-ising", 8, 2), {"j": -1}, "j must be a finite number > 0"),
        (("cluster-ising", 8, 2), {"h1_range": [0, math.inf]}, "h1_range"),
        (("cluster-ising", 8, 2), {"exclusion": 1.0}, "exclusion"),
        (("toric-vs-semion", 12, 2), {"strength": math.nan}, "strength"),
        (("toric-vs-semion", 12, 2), {"layers": 1.5}, "layers"),
        (("toric-vs-semion", 12, 2), {"layers": 10**9}, "layers"),
        (("xxx", 8, 2, -1), {}, "seed"),
        (("xxx", 8, 2, 2**63), {}, "seed"),
        (("xxx", 8, 2_000_000_000), {}, "n_samples"),
        (("xxx", 10**9, 2), {}, "n_qubits"),
        (("xxx", 30, 2), {"method": "exact"}, "Exact diagonalization"),
    ],
)
def test_dataset_configs_refuse_nonsense(args, kwargs, message):
    with pytest.raises(DatasetConfigError, match=message):
        resolve_config(*args, **kwargs)


def test_hamiltonians_need_finite_couplings():
    for bad in (math.nan, math.inf):
        with pytest.raises(HamiltonianError, match="j1"):
            bond_alternating_xxx(4, bad, 1.0)
        with pytest.raises(HamiltonianError, match="h2"):
            cluster_ising(4, 0.5, bad)


def test_topological_sizes_are_bounded():
    start = time.perf_counter()
    with pytest.raises(ValueError, match="n_samples"):
        topological_dataset(10**9)
    with pytest.raises(ValueError, match="layers"):
        topological_sample(0, seed=0, layers=10**9)
    assert time.perf_counter() - start < 1.0


# -------------------------------------------------------------------------------- shadows
def test_local_features_with_a_window_wider_than_the_chain(tmp_path):
    shadow = sample_shadow(np.array([1, 0, 0, 0, 0, 0, 0, 1]) / math.sqrt(2), 64, seed=1)
    start = time.perf_counter()
    wide = local_pauli_features(shadow, max_weight=100)
    assert time.perf_counter() - start < 5.0
    exact = local_pauli_features(shadow, max_weight=3)
    assert wide.max_weight == 3
    assert np.array_equal(wide.values, exact.values) and len(wide) == 63


def test_local_tables_and_shadows_beyond_memory_are_refused():
    with pytest.raises(ValueError, match="MAX_FEATURES"):
        local_pauli_table(1000, 12)
    with pytest.raises(ValueError, match="MAX_FEATURES"):
        local_pauli_features(ClassicalShadow(np.zeros((2, 40)), np.zeros((2, 40))), 20)
    with pytest.raises(ValueError, match="MAX_SHADOW_BYTES"):
        sample_shadow(np.array([1.0, 0.0]), 10**12, seed=0)
