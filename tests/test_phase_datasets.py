"""Quantum-phase datasets (``qnnlab.data.phases``, ``labels``, ``datasets``): configs, plans,
physics of the labels, and the build/cache/load cycle.

Physics references, independent of the code under test:

* XXX chain: in the topological phase (``J2/J1 > 1``) the open chain has free spin-1/2 edge
  modes whose singlet-triplet splitting decays exponentially with ``n``; in the trivial phase the
  gap stays finite. Deep in either phase the edge bond ``<S_0.S_1>`` follows perturbation theory
  in the weak coupling: ``-3/4 + O((J2/J1)^2)`` (a singlet) and ``O(J1/J2)`` (a free edge spin).
* Cluster-Ising chain: on ``h2 = 0`` it is dual to two transverse-field Ising chains, so the
  transition is exactly at ``h1 = J`` and the long-distance string orders are Pfeuty's squared
  magnetisation, ``O_SPT = (1 - (h1/J)^2)^{1/4}`` for ``h1 < J`` and, by Kramers-Wannier
  duality, ``O_triv = (1 - (J/h1)^2)^{1/4}`` for ``h1 > J``. Away from that line the labels are
  compared with the phase diagram of Cong, Choi and Lukin (Nat. Phys. 15, 1273 (2019), Fig. 2).
* Ground-state energies of built samples are checked against dense textbook Hamiltonians.

Each iDMRG label costs about a second, so only a handful of points are labelled for real; the
label-planning logic is tested with a synthetic ``string_order_task`` (tasks run in a
``SerialRunner``, so monkeypatching the module attribute reaches them).
"""

from __future__ import annotations

import gc
import json
import warnings

import numpy as np
import pytest

import qnnlab.data.datasets as datasets_module
from conftest import cluster_reference, xxx_reference
from qnnlab.data import Dataset, DatasetFormatError, build_dataset, load_dataset
from qnnlab.data.datasets import MAX_LABEL_ROUNDS, plan_cluster
from qnnlab.data.labels import StringOrders, cluster_ising_string_orders
from qnnlab.data.mps import MPS
from qnnlab.data.phases import (
    DatasetConfigError,
    accept_balanced,
    build_sample,
    candidate_points,
    plan_topological,
    plan_xxx,
    resolve_config,
)
from qnnlab.runtime.tasks import SerialRunner

pytestmark = pytest.mark.usefixtures("one_blas_thread")


# ------------------------------------------------------------------------------ references
def xxx_sample(ratio: float, j1: float = 1.0) -> dict:
    return {
        "index": 0,
        "label": int(ratio > 1),
        "params": {"J1": j1, "J2": j1 * ratio, "ratio": ratio},
    }


class CountingBuild:
    """Wraps ``build_sample`` and records which samples were built."""

    def __init__(self):
        self.indices: list[int] = []

    def __call__(self, config, sample):
        self.indices.append(sample["index"])
        return build_sample(config, sample)


# ------------------------------------------------------------------------------ configuration
def test_resolve_config_fills_defaults_and_is_json_ready():
    config = resolve_config("xxx", 8, 4, seed=3, ratio_range=(0.2, 1.8))
    assert config == {
        "name": "xxx",
        "n_qubits": 8,
        "n_samples": 4,
        "seed": 3,
        "method": "exact",
        "options": {"ratio_range": [0.2, 1.8], "exclusion": 0.0, "j1": 1.0, "sampling": "random"},
    }
    assert json.loads(json.dumps(config)) == config  # tuples became lists
    assert resolve_config("haldane", 8, 2)["name"] == "cluster-ising"
    assert resolve_config("heisenberg", 8, 2)["name"] == "xxx"


def test_method_auto_switches_to_dmrg_beyond_16_qubits():
    assert resolve_config("xxx", 16, 2)["method"] == "exact"
    dmrg = resolve_config("xxx", 17, 2)
    assert dmrg["method"] == "dmrg" and dmrg["dmrg"]["chi_max"] == 64
    assert resolve_config("cluster-ising", 40, 2)["method"] == "dmrg"
    assert resolve_config("xxx", 20, 2, method="exact")["method"] == "exact"
    assert "dmrg" not in resolve_config("xxx", 8, 2)
    assert resolve_config("toric-vs-semion", 12, 2)["method"] == "exact"


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("xxx", 8, 3), {}, "even number"),
        (("xxx", 8, 0), {}, "even number"),
        (("xxx", 8, 2.0), {}, "even number"),
        (("xxx", 3, 2), {}, "at least 4 qubits"),
        (("xxx", 0, 2), {}, "positive integer"),
        (("ising", 8, 2), {}, "Unknown dataset 'ising'"),
        (("xxx", 8, 2), {"h1_range": [0, 1]}, "Unknown option"),
        (("xxx", 8, 2), {"ratio_range": [1.5, 0.5]}, "low < high"),
        (("xxx", 8, 2), {"ratio_range": [0.5]}, "list of 2 numbers"),
        (("xxx", 8, 2), {"ratio_range": [-0.5, 2.0]}, "start at 0.0"),
        (("xxx", 8, 2), {"ratio_range": [0.0, 0.9]}, "no room on one side"),
        (("xxx", 8, 2), {"ratio_range": [0.0, 1.5], "exclusion": 0.6}, "no room on one side"),
        (("xxx", 8, 2), {"exclusion": -0.1}, "exclusion must be a finite number >= 0"),
        (("xxx", 8, 2), {"sampling": "sobol"}, "sampling must be"),
        (("cluster-ising", 8, 2), {"h1_range": [1.0, 0.0]}, "h1_range"),
        (("cluster-ising", 8, 2), {"h2_range": [0.0, 0.0]}, "h2_range"),
        (("cluster-ising", 8, 2), {"exclusion": -1}, "exclusion"),
        (("toric-vs-semion", 10, 2), {}, "exactly 12 qubits"),
        (("toric-vs-semion", 12, 2), {"method": "dmrg"}, "built exactly"),
        (("toric-vs-semion", 12, 2), {"strength": -0.1}, "strength"),
        (("xxx", 8, 2), {"method": "lanczos"}, "method must be"),
    ],
)
def test_resolve_config_refuses_bad_input_with_a_clear_message(args, kwargs, message):
    with pytest.raises(DatasetConfigError, match=message):
        resolve_config(*args, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"ratio_range": [0.2, "a"]}, {"method": "dmrg", "dmrg": {"chi": 8}}],
    ids=["range-entry", "dmrg-key"],
)
def test_malformed_option_values_are_config_errors(kwargs):
    with pytest.raises(DatasetConfigError):
        resolve_config("xxx", 8, 2, **kwargs)


# ------------------------------------------------------------------------------ plans
@pytest.mark.parametrize("sampling", ["random", "grid"])
def test_plan_xxx_is_balanced_labelled_by_the_ratio_and_respects_the_window(sampling):
    config = resolve_config(
        "xxx", 8, 40, seed=5, ratio_range=[0.1, 1.9], exclusion=0.2, sampling=sampling
    )
    plan = plan_xxx(config)
    assert [s["index"] for s in plan] == list(range(40))
    ratios = np.array([s["params"]["ratio"] for s in plan])
    labels = np.array([s["label"] for s in plan])
    assert labels.sum() == 20
    np.testing.assert_array_equal(labels, (ratios > 1).astype(int))
    assert np.all(np.abs(ratios - 1) >= 0.2)
    assert np.all((ratios >= 0.1) & (ratios <= 1.9))
    for s in plan:
        assert s["params"]["J1"] == 1.0 and s["params"]["J2"] == pytest.approx(s["params"]["ratio"])
    # Shuffled: labels are not sorted.
    assert not np.all(np.diff(labels) >= 0)
    if sampling == "grid":
        below = np.sort(ratios[labels == 0])
        np.testing.assert_allclose(np.diff(below), np.diff(below)[0], atol=1e-12)


def test_plan_xxx_is_deterministic_per_seed_and_scales_j1():
    a = plan_xxx(resolve_config("xxx", 8, 10, seed=1))
    assert a == plan_xxx(resolve_config("xxx", 8, 10, seed=1))
    assert a != plan_xxx(resolve_config("xxx", 8, 10, seed=2))
    scaled = plan_xxx(resolve_config("xxx", 8, 10, seed=1, j1=2.0))
    for s, t in zip(a, scaled, strict=True):
        assert t["params"]["J1"] == 2.0
        assert t["params"]["J2"] == pytest.approx(2.0 * s["params"]["ratio"])


def test_plan_topological_is_balanced_with_distinct_seeds():
    config = resolve_config("toric-vs-semion", 12, 10, seed=4)
    plan = plan_topological(config)
    assert sum(s["label"] for s in plan) == 5
    seeds = [s["params"]["seed"] for s in plan]
    assert len(set(seeds)) == 10
    assert plan == plan_topological(config)
    assert plan != plan_topological(resolve_config("toric-vs-semion", 12, 10, seed=5))


def test_candidate_points_are_uniform_in_the_ranges_and_deterministic():
    config = resolve_config("cluster-ising", 8, 4, seed=2, h1_range=[0.2, 0.4], h2_range=[-1, 1])
    points = candidate_points(config, 0, 50)
    assert points.shape == (50, 2)
    assert np.all((points[:, 0] >= 0.2) & (points[:, 0] <= 0.4))
    assert np.all((points[:, 1] >= -1) & (points[:, 1] <= 1))
    np.testing.assert_array_equal(points, candidate_points(config, 0, 50))
    assert not np.allclose(points, candidate_points(config, 1, 50))


def test_accept_balanced_takes_candidates_in_draw_order():
    c = [
        (0.1, 0.0, 1, 0.9),
        (0.2, 0.0, 1, 0.8),
        (0.3, 0.0, 1, 0.7),  # third SPT point: class already full
        (1.5, 0.0, 0, -0.9),
        (0.9, 0.0, 0, -0.05),  # inside the exclusion margin
        (1.4, 0.0, 0, -0.6),
        (1.3, 0.0, 1, 0.9),
    ]
    assert accept_balanced(c, 4, exclusion=0.0) == [0, 1, 3, 4]
    assert accept_balanced(c, 4, exclusion=0.1) == [0, 1, 3, 5]
    assert accept_balanced(c, 2, exclusion=0.0) == [0, 3]
    assert accept_balanced(c[:4], 4, exclusion=0.0) is None  # one trivial point short
    assert accept_balanced(c, 6, exclusion=0.0) == [0, 1, 2, 3, 4, 5]
    assert accept_balanced(c, 8, exclusion=0.0) is None  # three trivial points only
    assert accept_balanced([], 2, exclusion=0.0) is None


# ------------------------------------------------------------------------------ XXX physics
def test_xxx_edge_gap_closes_exponentially_only_in_the_topological_phase():
    gaps = {}
    for ratio in (0.5, 1.5):
        for n in (8, 10, 12, 14):
            config = resolve_config("xxx", n, 2, method="exact")
            _, record = build_sample(config, xxx_sample(ratio))
            gaps[ratio, n] = record["gap"]
    topo = [gaps[1.5, n] for n in (8, 10, 12, 14)]
    steps = np.array(topo[1:]) / np.array(topo[:-1])
    # Exponential decay e^{-n/xi}: a constant factor per two sites, here ~0.5 (xi ~ 3 sites).
    # A power law ~1/n would give factors >= 8/10 = 0.8, so < 0.7 rules algebraic decay out.
    assert np.all(steps < 0.7) and np.all(steps > 0.3)
    assert steps.max() / steps.min() < 1.3  # the same factor each time: exponential
    trivial = [gaps[0.5, n] for n in (8, 10, 12, 14)]
    # Gapped dimer phase: the triplon gap converges to a finite value (~0.68), changing by
    # under 10% from n = 8 to 14.
    assert min(trivial) > 0.5
    assert trivial[-1] / trivial[0] > 0.9


def test_xxx_edge_bond_follows_perturbation_theory_deep_in_each_phase():
    def edge(ratio: float) -> float:
        config = resolve_config("xxx", 10, 2, method="exact")
        return build_sample(config, xxx_sample(ratio))[1]["diagnostics"]["edge_bond"]

    # Trivial: (0, 1) is a strong-bond singlet, <S0.S1> = -3/4 + O(r^2), r = J2/J1 = 0.1.
    assert edge(0.1) == pytest.approx(-0.75, abs=0.01)
    # Topological: spin 0 is a free edge spin weakly (J1) attached to the (1, 2) dimer:
    # <S0.S1> = O(J1/J2), linear in 1/r (measured ~ -0.4 / r).
    e10, e20 = edge(10.0), edge(20.0)
    assert abs(e10) < 0.1
    assert e10 / e20 == pytest.approx(2.0, rel=0.1)


def test_xxx_exact_energies_equal_the_textbook_hamiltonian():
    n = 8
    for ratio in (0.3, 1.0, 1.7):
        state, record = build_sample(resolve_config("xxx", n, 2), xxx_sample(ratio))
        ham = xxx_reference(n, 1.0, ratio)
        # Lieb-Mattis: the Sz = 0 sector holds the ground state of the even chain.
        assert record["energy"] == pytest.approx(np.linalg.eigvalsh(ham)[0], abs=1e-10)
        assert np.real(np.vdot(state, ham @ state)) == pytest.approx(record["energy"], abs=1e-10)


# ------------------------------------------------------------------------------ cluster labels
def pfeuty_string_order(h: float) -> float:
    """Long-distance string order on the h2 = 0 line: (1 - h^2)^(1/4), h = h1/J or J/h1."""
    return (1.0 - min(h, 1.0 / h) ** 2) ** 0.25


@pytest.mark.parametrize("h1, label", [(0.8, 1), (1.2, 0)])
def test_string_orders_on_the_ising_dual_line_match_pfeuty(h1, label):
    orders = cluster_ising_string_orders(h1, 0.0)
    assert orders.label == label
    # The surviving order equals Pfeuty's m^2 = (1 - h^2)^(1/4) up to the string's finite
    # length (20 steps of the dual chain, correlation length 1/(2 ln(J/h)) < 3 sites: e^-7)
    # and the chi = 16 truncation; measured deviations are below 2e-3, so 5e-3 is sharp.
    # The other order vanishes (exponentially in the string length; measured < 5e-3).
    surviving, vanishing = (orders.spt, orders.trivial) if label else (orders.trivial, orders.spt)
    assert abs(surviving) == pytest.approx(pfeuty_string_order(h1), abs=5e-3)
    assert abs(vanishing) < 1e-2
    assert orders.margin == pytest.approx(abs(orders.spt) - abs(orders.trivial))


@pytest.mark.parametrize(
    "h1, h2, label, phase",
    [
        (0.1, 0.0, 1, "SPT"),
        (1.5, 0.5, 0, "paramagnet"),
        (0.2, -1.5, 0, "antiferromagnet"),
    ],
)
def test_labels_agree_with_the_phase_diagram_of_cong_et_al(h1, h2, label, phase):
    orders = cluster_ising_string_orders(h1, h2)
    assert orders.label == label, phase
    # Far from any boundary one order is close to 1 and the other is tiny.
    assert max(abs(orders.spt), abs(orders.trivial)) > 0.9
    assert min(abs(orders.spt), abs(orders.trivial)) < 1e-2


def test_labels_resolve_the_dual_line_transition_to_one_percent():
    # h2 = 0 is dual to the transverse Ising chain: transition exactly at h1 = J. With chi = 32
    # the iDMRG string orders cross between 0.99 and 1.00 (labels.py documents this resolution).
    assert cluster_ising_string_orders(0.99, 0.0).label == 1
    assert cluster_ising_string_orders(1.01, 0.0).label == 0


# ------------------------------------------------------------------------------ cluster planning
def fake_orders(h1: float, h2: float, j: float) -> StringOrders:
    """Synthetic labels: SPT iff h1 < 0.8 J, margin = 0.8 - h1 (so exclusion can bite)."""
    d = 0.8 * j - h1
    return StringOrders(spt=max(d, 0.0) + 0.1, trivial=max(-d, 0.0) + 0.1)


def test_plan_cluster_labels_balances_and_caches(tmp_path, monkeypatch):
    calls: list[tuple] = []

    def task(h1, h2, j):
        calls.append((h1, h2, j))
        return fake_orders(h1, h2, j)

    monkeypatch.setattr(datasets_module, "string_order_task", task)
    config = resolve_config("cluster-ising", 6, 4, seed=7, h1_range=[0.0, 1.6])
    plan = plan_cluster(config, SerialRunner(), tmp_path, progress=False)
    assert [s["index"] for s in plan] == [0, 1, 2, 3]
    assert sorted(s["label"] for s in plan) == [0, 0, 1, 1]
    for s in plan:
        h1 = s["params"]["h1"]
        assert s["label"] == int(h1 < 0.8) and s["params"]["J"] == 1.0
        expected = fake_orders(h1, s["params"]["h2"], 1.0)
        assert s["evidence"] == {
            "string_order_spt": expected.spt,
            "string_order_trivial": expected.trivial,
        }
    # Samples are the first acceptable candidates of round 0, in draw order.
    points = candidate_points(config, 0, 8)
    assert len(calls) == 8 and [c[:2] for c in calls] == [tuple(p) for p in points.tolist()]
    first = [tuple(p) for p in points.tolist()]
    used = [first.index((s["params"]["h1"], s["params"]["h2"])) for s in plan]
    assert used == sorted(used)
    labels_folder = tmp_path / "labels" / "cluster-ising"
    assert len(list(labels_folder.glob("*.json"))) == 8

    # Second plan: every label comes from the on-disk cache, no task runs.
    def refuse(*args):
        raise AssertionError("label recomputed despite the cache")

    monkeypatch.setattr(datasets_module, "string_order_task", refuse)
    assert plan_cluster(config, SerialRunner(), tmp_path, progress=False) == plan


def test_plan_cluster_skips_points_inside_the_exclusion_margin(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets_module, "string_order_task", fake_orders)
    config = resolve_config("cluster-ising", 6, 6, seed=1, h1_range=[0.0, 1.6], exclusion=0.3)
    plan = plan_cluster(config, SerialRunner(), tmp_path, progress=False)
    assert sorted(s["label"] for s in plan) == [0, 0, 0, 1, 1, 1]
    for s in plan:
        assert abs(0.8 - s["params"]["h1"]) >= 0.3


def test_plan_cluster_gives_up_with_advice_when_one_phase_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets_module, "string_order_task", fake_orders)
    # h1 in [0, 0.5]: every synthetic label is SPT, so no balanced plan exists.
    config = resolve_config("cluster-ising", 6, 2, seed=0, h1_range=[0.0, 0.5])
    with pytest.raises(DatasetConfigError, match="Widen the ranges") as info:
        plan_cluster(config, SerialRunner(), tmp_path, progress=False)
    assert f"After {8 * MAX_LABEL_ROUNDS} candidates" in str(info.value)


# ------------------------------------------------------------------------------ build and cache
@pytest.fixture
def xxx_dataset(tmp_path) -> Dataset:
    return build_dataset("xxx", 8, 4, seed=0, cache_dir=tmp_path, workers=1, progress=False)


def test_build_dataset_xxx_records_and_api(xxx_dataset, tmp_path):
    ds = xxx_dataset
    assert len(ds) == 4 and ds.name == "xxx" and ds.n_qubits == 8
    assert ds.folder.parent == tmp_path / "datasets"
    assert ds.missing() == []
    assert ds.labels.dtype == np.int64 and sorted(ds.labels) == [0, 0, 1, 1]
    assert ds.label_names == ("trivial", "topological")
    ratios = ds.parameters("ratio")
    assert ratios.shape == (4,)
    np.testing.assert_array_equal(ds.labels, (ratios > 1).astype(int))
    assert ds.parameters()[0]["J2"] == pytest.approx(ratios[0])
    states = ds.dense_states()
    assert states.shape == (4, 256) and states.dtype == np.complex128
    for i in range(4):
        state = ds.state(i)
        assert isinstance(state, np.ndarray) and state.shape == (256,)
        record = ds.record(i)
        assert record["index"] == i and record["label"] == ds.labels[i]
        assert record["method"] == "exact" and record["wall_time"] > 0
        assert set(record["diagnostics"]) == {"edge_bond", "bulk_even_bond", "bulk_odd_bond"}
        ham = xxx_reference(8, 1.0, ratios[i])
        assert record["energy"] == pytest.approx(np.linalg.eigvalsh(ham)[0], abs=1e-10)
        assert np.real(np.vdot(state, ham @ state)) == pytest.approx(record["energy"], abs=1e-10)
    summary = ds.summary()
    assert {
        "folder",
        "config",
        "samples",
        "labels",
        "wall_time_total_s",
        "wall_time_per_state_s",
        "size_on_disk_mb",
        "energy_range",
    } <= set(summary)
    assert summary["labels"] == {"trivial": 2, "topological": 2}
    energies = [r["energy"] for r in ds.records()]
    assert summary["energy_range"] == [min(energies), max(energies)]
    assert "max_bond_dim" not in summary
    assert "xxx" in repr(ds)
    # Atomic writes: no temporary files anywhere in the dataset folder.
    assert [p.name for p in ds.folder.rglob(".*")] == []


def test_building_again_does_no_work_and_a_deleted_state_is_rebuilt(
    xxx_dataset, tmp_path, monkeypatch
):
    counter = CountingBuild()
    monkeypatch.setattr(datasets_module, "build_sample", counter)
    before = xxx_dataset.dense_states()
    again = build_dataset("xxx", 8, 4, seed=0, cache_dir=tmp_path, workers=1, progress=False)
    assert counter.indices == []
    assert again.folder == xxx_dataset.folder
    (again.folder / "states" / "00002.npz").unlink()
    with pytest.raises(DatasetFormatError, match="1 of 4 states are missing"):
        load_dataset(again.folder)
    rebuilt = build_dataset("xxx", 8, 4, seed=0, cache_dir=tmp_path, workers=1, progress=False)
    assert counter.indices == [2]
    # Deterministic: the rebuilt state is the same vector (same sign convention).
    np.testing.assert_allclose(rebuilt.dense_states(), before, atol=1e-12)
    loaded = load_dataset(rebuilt.folder / "dataset.json")
    np.testing.assert_array_equal(loaded.labels, xxx_dataset.labels)


def test_a_different_config_builds_a_different_folder(xxx_dataset, tmp_path):
    other = build_dataset("xxx", 8, 4, seed=1, cache_dir=tmp_path, workers=1, progress=False)
    assert other.folder != xxx_dataset.folder
    assert not np.array_equal(other.parameters("ratio"), xxx_dataset.parameters("ratio"))


def test_load_dataset_refuses_folders_that_are_not_datasets(tmp_path):
    with pytest.raises(DatasetFormatError, match=r"no dataset\.json"):
        load_dataset(tmp_path)


def test_dmrg_build_stores_mps_with_diagnostics_and_matches_the_exact_build(tmp_path):
    kwargs = {"cache_dir": tmp_path, "workers": 1, "progress": False, "seed": 3}
    exact = build_dataset("xxx", 8, 2, **kwargs)
    dmrg = build_dataset("xxx", 8, 2, method="dmrg", dmrg={"chi_max": 16}, **kwargs)
    assert dmrg.folder != exact.folder
    np.testing.assert_array_equal(dmrg.parameters("ratio"), exact.parameters("ratio"))
    for i in range(2):
        state, record = dmrg.state(i), dmrg.record(i)
        assert isinstance(state, MPS) and state.n_qubits == 8
        assert record["method"] == "dmrg"
        assert {"energy", "truncation_error", "bond_dim", "sweeps", "wall_time"} <= set(record)
        assert record["bond_dim"] <= 16 and record["sweeps"] >= 3
        # chi_max = 16 = 2^(8/2): exact representation, so the 1e-8 requirement holds.
        assert record["energy"] == pytest.approx(exact.record(i)["energy"], abs=1e-8)
        overlap = abs(np.vdot(exact.state(i), state.to_dense()))
        assert overlap == pytest.approx(1.0, abs=1e-6)
    assert dmrg.dense_states().shape == (2, 256)
    summary = dmrg.summary()
    assert summary["max_bond_dim"] <= 16 and summary["max_truncation_error"] < 1e-8


def test_cluster_ising_build_end_to_end(tmp_path, monkeypatch):
    # Real iDMRG labels for the 8 candidates of round 0 (about 1 s each), exact states.
    ds = build_dataset("cluster-ising", 6, 2, seed=0, cache_dir=tmp_path, workers=1, progress=False)
    assert sorted(ds.labels) == [0, 1]
    for i, record in enumerate(ds.records()):
        evidence = record["evidence"]
        spt, trivial = evidence["string_order_spt"], evidence["string_order_trivial"]
        assert record["label"] == int(abs(spt) > abs(trivial))
        p = ds.parameters()[i]
        ham = cluster_reference(6, p["h1"], p["h2"], p["J"])
        assert record["energy"] == pytest.approx(np.linalg.eigvalsh(ham)[0], abs=1e-10)
        assert set(record["diagnostics"]) == {
            "finite_string_order_spt",
            "finite_string_order_trivial",
        }
    assert len(list((tmp_path / "labels" / "cluster-ising").glob("*.json"))) == 8

    # Another chain length with the same seed draws the same candidates: labels come from the
    # on-disk cache, so no iDMRG runs.
    def refuse(*args):
        raise AssertionError("label recomputed despite the cache")

    monkeypatch.setattr(datasets_module, "string_order_task", refuse)
    other = build_dataset(
        "cluster-ising", 7, 2, seed=0, cache_dir=tmp_path, workers=1, progress=False
    )
    assert other.parameters() == ds.parameters()


@pytest.mark.parametrize(
    "name, params",
    [
        ("xxx", {"J1": 1.0, "J2": 0.5, "ratio": 0.5}),
        ("cluster-ising", {"h1": 0.5, "h2": 0.1, "J": 1.0}),
    ],
)
def test_the_smallest_allowed_chain_builds(name, params):
    config = resolve_config(name, 4, 2, method="exact")
    _, record = build_sample(config, {"index": 0, "label": 0, "params": params})
    assert np.isfinite(record["energy"])


def test_an_interrupted_build_keeps_finished_states_and_resumes(tmp_path, monkeypatch):
    class Killed(Exception):
        pass

    built: list[int] = []

    def dies_on_the_third(config, sample):
        if len(built) == 2:
            raise Killed
        built.append(sample["index"])
        return build_sample(config, sample)

    monkeypatch.setattr(datasets_module, "build_sample", dies_on_the_third)
    kwargs = {"seed": 0, "cache_dir": tmp_path, "workers": 1, "progress": False}
    with pytest.raises(Killed):
        build_dataset("xxx", 8, 6, **kwargs)
    folder = next((tmp_path / "datasets").iterdir())
    assert sorted(p.name for p in (folder / "states").iterdir()) == ["00000.npz", "00001.npz"]
    with pytest.raises(DatasetFormatError, match="4 of 6 states are missing"):
        load_dataset(folder)
    counter = CountingBuild()
    monkeypatch.setattr(datasets_module, "build_sample", counter)
    ds = build_dataset("xxx", 8, 6, **kwargs)
    assert counter.indices == [2, 3, 4, 5]
    assert ds.folder == folder and ds.missing() == []


def test_a_damaged_state_file_is_reported_not_silently_used(xxx_dataset):
    path = xxx_dataset.folder / "states" / "00001.npz"
    path.write_bytes(path.read_bytes()[:100])
    ds = load_dataset(xxx_dataset.folder)  # every file exists: the folder opens
    ds.state(0)
    with warnings.catch_warnings():
        with pytest.raises(DatasetFormatError, match="Delete it and rebuild"):
            ds.state(1)
        with pytest.raises(DatasetFormatError, match=r"00001\.npz"):
            ds.summary()
        gc.collect()


def test_toric_vs_semion_build_has_no_energies(tmp_path):
    ds = build_dataset("toric-vs-semion", 12, 2, cache_dir=tmp_path, workers=1, progress=False)
    assert sorted(ds.labels) == [0, 1]
    states = ds.dense_states()
    assert states.shape == (2, 4096)
    np.testing.assert_allclose(np.linalg.norm(states, axis=1), 1.0, atol=1e-10)
    summary = ds.summary()
    assert "energy_range" not in summary
    assert summary["labels"] == {"toric code": 1, "double semion": 1}


@pytest.mark.slow
def test_a_process_pool_build_equals_the_serial_build(tmp_path):
    # Spawned workers import qnnlab and TeNPy (a few seconds each): slow.
    serial = build_dataset("xxx", 8, 4, cache_dir=tmp_path / "a", workers=1, progress=False)
    pooled = build_dataset("xxx", 8, 4, cache_dir=tmp_path / "b", workers=2, progress=False)
    np.testing.assert_array_equal(pooled.dense_states(), serial.dense_states())
    assert [r["energy"] for r in pooled.records()] == [r["energy"] for r in serial.records()]


def test_dataset_shadows_are_per_sample_seeded_and_unbiased(xxx_dataset):
    from qnnlab.data.hamiltonians import dense_expectation, heisenberg_bond
    from qnnlab.shadows import estimate

    shadows = xxx_dataset.shadows(3000, seed=5)
    again = xxx_dataset.shadows(3000, seed=5)
    assert len(shadows) == len(xxx_dataset)
    assert all(s.n_qubits == 8 and s.n_snapshots == 3000 for s in shadows)
    assert all(a == b for a, b in zip(shadows, again, strict=True))
    assert shadows[0] != xxx_dataset.shadows(3000, seed=6)[0]
    bond = heisenberg_bond(2, 3)
    for state, shadow in zip(xxx_dataset.states(), shadows, strict=True):
        est = estimate(shadow, bond, groups=1)
        exact = dense_expectation(state, bond, 8)
        # A snapshot matches at most one of XX, YY, ZZ on (2, 3), so the single-snapshot second
        # moment is 3 * (1/4)^2 * 9 = 1.69 and the mean's standard error <= sqrt(1.69 / 3000)
        # ~ 0.024: a 5 sigma bound.
        assert abs(est.value - exact) < 5 * 0.024
