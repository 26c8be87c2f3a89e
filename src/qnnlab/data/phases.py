"""The quantum-phase datasets: what a sample is, how its parameters are drawn, how it is built.

Three families (``FAMILIES``), each a labelled set of states with their Hamiltonian parameters:

``xxx`` -- bond-alternating XXX chain (:func:`~qnnlab.data.hamiltonians.bond_alternating_xxx`),
    ``J1 = 1`` and ``J2 = ratio``; label 1 (topological, free edge spins) if ``J2 / J1 > 1``,
    else 0 (trivial). Ratios are drawn uniformly (or on a grid) from ``ratio_range``, half of the
    samples on each side of the critical point ``J2 / J1 = 1``, outside the window
    ``|ratio - 1| < exclusion``.
``cluster-ising`` -- the cluster-Ising ("Haldane") chain of Cong et al.; ``(h1, h2)`` drawn
    uniformly from ``h1_range x h2_range`` and labelled by the thermodynamic string orders
    (:mod:`qnnlab.data.labels`, label 1 = SPT), accepted in draw order until both classes hold
    half of the samples; points with a string-order margin below ``exclusion`` are skipped.
``toric-vs-semion`` -- 12-qubit toric code (label 0) vs double semion (label 1) ground-space
    states with random phases and a single-qubit perturbation (:mod:`qnnlab.data.topological`).

Ground states come from exact diagonalization for ``n <= EXACT_AUTO_MAX_QUBITS`` (dense
vectors) and from DMRG beyond (matrix product states), or as forced by ``method``. The XXX chain
is solved at fixed total ``S^z`` (``S^z = 0`` for even ``n``); the cluster-Ising chain in both
sectors of its parity ``prod X`` (DMRG) or in the full space (exact), keeping the lower energy.
Every sample records its parameters, label, ground-state energy, method, wall time, and for DMRG
the truncation error, bond dimension and number of sweeps, plus physical diagnostics.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qnnlab.checks import check_int, check_real, check_seed
from qnnlab.circuits.paulis import PauliString, PauliSum
from qnnlab.data.dmrg import DMRGSettings, run_dmrg
from qnnlab.data.hamiltonians import (
    EXACT_MAX_QUBITS,
    bond_alternating_xxx,
    cluster_ising,
    dense_expectation,
    exact_ground_state,
    heisenberg_bond,
)
from qnnlab.data.mps import MPS
from qnnlab.data.tenpy_models import (
    CLUSTER_BASIS_CHANGE,
    BondAlternatingXXXModel,
    ClusterIsingModel,
)
from qnnlab.data.topological import MAX_LAYERS as MAX_PERTURBATION_LAYERS

#: ``method="auto"`` diagonalizes exactly up to this many qubits and runs DMRG beyond.
EXACT_AUTO_MAX_QUBITS = 16
#: Longest chain a dataset is built on (DMRG; a plan and every state are checked against it).
MAX_DMRG_QUBITS = 4096
#: Most states in one dataset: the plan is held in memory and written as one JSON file.
MAX_SAMPLES = 100_000


class DatasetConfigError(ValueError):
    """A dataset configuration is invalid; the message names the option and the fix."""


def _expect(state: np.ndarray | MPS, observable: PauliSum | PauliString, n: int) -> float:
    if isinstance(state, MPS):
        return state.expectation(observable)
    return dense_expectation(state, observable, n)


# ------------------------------------------------------------------------------ the families
@dataclass(frozen=True)
class Family:
    """A dataset family: defaults of its options, a parameter planner and a state builder."""

    name: str
    description: str
    label_names: tuple[str, str]
    defaults: dict = field(default_factory=dict)
    validate: Callable[[dict], None] | None = None
    fixed_qubits: int | None = None
    dmrg: bool = True


def _check_range(options: dict, key: str, lower: float | None = None) -> tuple[float, float]:
    value = options[key]
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise DatasetConfigError(f"{key} must be a pair [low, high] with low < high, got {value}.")
    lo, hi = (check_real(key, v, error=DatasetConfigError) for v in value)
    if not lo < hi:
        raise DatasetConfigError(f"{key} must be a pair [low, high] with low < high, got {value}.")
    if lower is not None and lo < lower:
        raise DatasetConfigError(f"{key} must start at {lower} or above, got {value}.")
    return lo, hi


def _validate_xxx(options: dict) -> None:
    """``ratio_range`` a finite ``[low, high]`` from 0 up with room on both sides of
    ``J2/J1 = 1`` outside ``exclusion >= 0``; ``j1 > 0`` (the label compares ``J2/J1`` with 1,
    which means dimerization only for antiferromagnetic bonds); a known ``sampling``."""
    lo, hi = _check_range(options, "ratio_range", lower=0.0)
    window = check_real("exclusion", options["exclusion"], minimum=0, error=DatasetConfigError)
    check_real(
        "j1",
        options["j1"],
        minimum=0,
        min_open=True,
        hint="It is the antiferromagnetic coupling of the even bonds (J2 = j1 * ratio).",
        error=DatasetConfigError,
    )
    if not (lo < 1 - window and hi > 1 + window):
        raise DatasetConfigError(
            f"ratio_range {[lo, hi]} with exclusion {window} leaves no room on one side of the "
            "critical point J2/J1 = 1; widen the range or shrink the exclusion window."
        )
    if options["sampling"] not in ("random", "grid"):
        raise DatasetConfigError(f"sampling must be 'random' or 'grid', got {options['sampling']}.")


def _validate_cluster(options: dict) -> None:
    """Finite ``h1_range`` and ``h2_range``; ``j > 0`` (the phase diagram of Cong et al. is in
    units of ``J > 0``: ``j = 0`` has no SPT phase); ``exclusion`` in ``[0, 1)`` (string orders
    lie in ``[-1, 1]``, so a larger margin accepts no point)."""
    _check_range(options, "h1_range")
    _check_range(options, "h2_range")
    check_real(
        "j",
        options["j"],
        minimum=0,
        min_open=True,
        hint="It is the coupling J of -J Z X Z; the phase diagram is in units of J > 0.",
        error=DatasetConfigError,
    )
    check_real(
        "exclusion",
        options["exclusion"],
        minimum=0,
        maximum=1,
        max_open=True,
        error=DatasetConfigError,
    )


def _validate_topological(options: dict) -> None:
    """``strength`` finite and ``>= 0``; ``layers`` an integer in ``0..MAX_PERTURBATION_LAYERS``."""
    check_real("strength", options["strength"], minimum=0, error=DatasetConfigError)
    check_int(
        "layers",
        options["layers"],
        minimum=0,
        maximum=MAX_PERTURBATION_LAYERS,
        error=DatasetConfigError,
    )


FAMILIES: dict[str, Family] = {
    "xxx": Family(
        name="xxx",
        description="bond-alternating XXX Heisenberg chain, trivial vs topological",
        label_names=("trivial", "topological"),
        defaults={"ratio_range": [0.0, 2.0], "exclusion": 0.0, "j1": 1.0, "sampling": "random"},
        validate=_validate_xxx,
    ),
    "cluster-ising": Family(
        name="cluster-ising",
        description="cluster-Ising (Haldane) chain of Cong et al., SPT vs the rest",
        label_names=("trivial", "SPT"),
        defaults={"h1_range": [0.0, 1.6], "h2_range": [-1.6, 1.6], "j": 1.0, "exclusion": 0.0},
        validate=_validate_cluster,
    ),
    "toric-vs-semion": Family(
        name="toric-vs-semion",
        description="toric code vs double semion on a 12-qubit honeycomb torus",
        label_names=("toric code", "double semion"),
        defaults={"strength": 0.1, "layers": 1},
        validate=_validate_topological,
        fixed_qubits=12,
        dmrg=False,
    ),
}

ALIASES = {
    "bond-alternating-xxx": "xxx",
    "heisenberg": "xxx",
    "haldane": "cluster-ising",
    "cluster": "cluster-ising",
    "topological": "toric-vs-semion",
    "toric-code": "toric-vs-semion",
}


def _coerce(value, default):
    """``value`` as the type of ``default``; numbers must be finite, integers integral."""
    if isinstance(default, bool | str):
        return type(default)(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError("expected an integer")
        if not float(value).is_integer():
            raise ValueError("expected an integer")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool):
            raise TypeError("expected a number")
        number = float(value)  # strings such as "0.5" are read as numbers
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if isinstance(default, list):
        if not isinstance(value, list | tuple) or len(value) != len(default):
            raise TypeError(f"expected a list of {len(default)} numbers, like the default")
        return [_coerce(v, d) for d, v in zip(default, value, strict=True)]
    return value


def _normalise(key: str, value, default):
    """Coerce an option to the type of its default, so equal configs share one cache entry.

    Numbers must be finite (``NaN``, ``inf`` and values beyond the float range are refused) and
    integer options integral (``1.5`` layers is an error, not 1).
    """
    try:
        return _coerce(value, default)
    except (TypeError, ValueError, OverflowError) as err:
        raise DatasetConfigError(
            f"Option {key}={value!r} is malformed ({err}); the default is {default!r}."
        ) from None


def family(name: str) -> Family:
    key = ALIASES.get(name, name)
    if key not in FAMILIES:
        known = ", ".join(sorted(FAMILIES) + sorted(ALIASES))
        raise DatasetConfigError(f"Unknown dataset {name!r}; choose one of: {known}.")
    return FAMILIES[key]


def resolve_config(
    name: str,
    n_qubits: int,
    n_samples: int,
    seed: int = 0,
    *,
    method: str = "auto",
    dmrg: dict | DMRGSettings | None = None,
    **options,
) -> dict:
    """The full, validated configuration of a dataset: the key of its cache entry."""
    fam = family(name)
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, int | np.integer) or n_qubits < 1:
        raise DatasetConfigError(f"n_qubits must be a positive integer, got {n_qubits!r}.")
    if n_qubits > MAX_DMRG_QUBITS:
        raise DatasetConfigError(
            f"n_qubits={n_qubits} is beyond the longest chain built here ({MAX_DMRG_QUBITS})."
        )
    if fam.fixed_qubits is not None and n_qubits != fam.fixed_qubits:
        raise DatasetConfigError(
            f"The {fam.name} dataset lives on exactly {fam.fixed_qubits} qubits; got {n_qubits}."
        )
    minimum = {"xxx": 4, "cluster-ising": 4}.get(fam.name, 1)
    if n_qubits < minimum:
        raise DatasetConfigError(f"The {fam.name} dataset needs at least {minimum} qubits.")
    if (
        isinstance(n_samples, bool)
        or not isinstance(n_samples, int | np.integer)
        or n_samples < 2
        or n_samples % 2
    ):
        raise DatasetConfigError(
            f"n_samples must be an even number >= 2 (classes are balanced), got {n_samples!r}."
        )
    if n_samples > MAX_SAMPLES:
        raise DatasetConfigError(
            f"n_samples={n_samples} is more than {MAX_SAMPLES} states; build several datasets "
            "with different seeds instead."
        )
    seed = check_seed("seed", seed, error=DatasetConfigError)
    unknown = set(options) - set(fam.defaults)
    if unknown:
        raise DatasetConfigError(
            f"Unknown option(s) {sorted(unknown)} for {fam.name}; valid: {sorted(fam.defaults)}."
        )
    merged = {k: _normalise(k, v, fam.defaults[k]) for k, v in {**fam.defaults, **options}.items()}
    if fam.validate:
        fam.validate(merged)
    if method == "auto":
        method = "exact" if (not fam.dmrg or n_qubits <= EXACT_AUTO_MAX_QUBITS) else "dmrg"
    if method not in ("exact", "dmrg"):
        raise DatasetConfigError(f"method must be 'auto', 'exact' or 'dmrg', got {method!r}.")
    if method == "dmrg" and not fam.dmrg:
        raise DatasetConfigError(f"The {fam.name} dataset is built exactly; use method='exact'.")
    if method == "exact" and n_qubits > EXACT_MAX_QUBITS:
        raise DatasetConfigError(
            f"Exact diagonalization of {n_qubits} qubits is out of reach (limit "
            f"{EXACT_MAX_QUBITS}); use method='dmrg' or 'auto'."
        )
    config = {
        "name": fam.name,
        "n_qubits": int(n_qubits),
        "n_samples": int(n_samples),
        "seed": seed,
        "method": method,
        "options": merged,
    }
    if method == "dmrg":
        try:
            settings = dmrg if isinstance(dmrg, DMRGSettings) else DMRGSettings(**(dmrg or {}))
        except TypeError as err:
            valid = sorted(DMRGSettings().to_dict())
            raise DatasetConfigError(f"Bad DMRG setting ({err}); valid keys: {valid}.") from None
        config["dmrg"] = settings.to_dict()
    return config


# ------------------------------------------------------------------------------ plans
def plan_xxx(config: dict) -> list[dict]:
    """Balanced ratios ``J2/J1``: half below ``1 - exclusion``, half above ``1 + exclusion``."""
    opts = config["options"]
    lo, hi = opts["ratio_range"]
    window = opts["exclusion"]
    half = config["n_samples"] // 2
    rng = np.random.default_rng(config["seed"])
    sides = [(lo, 1.0 - window), (1.0 + window, hi)]
    ratios, labels = [], []
    for label, (a, b) in enumerate(sides):
        if opts["sampling"] == "grid":
            values = np.linspace(a, b, half + 2)[1:-1] if half > 0 else []
        else:
            values = rng.uniform(a, b, size=half)
        ratios.extend(float(v) for v in values)
        labels.extend([label] * half)
    order = rng.permutation(len(ratios))
    j1 = float(opts["j1"])
    return [
        {
            "index": i,
            "params": {"J1": j1, "J2": j1 * ratios[k], "ratio": ratios[k]},
            "label": labels[k],
        }
        for i, k in enumerate(order)
    ]


def candidate_points(config: dict, round_: int, count: int) -> np.ndarray:
    """``count`` uniform ``(h1, h2)`` candidates of round ``round_`` (deterministic per seed)."""
    opts = config["options"]
    rng = np.random.default_rng([config["seed"], round_])
    h1 = rng.uniform(*opts["h1_range"], size=count)
    h2 = rng.uniform(*opts["h2_range"], size=count)
    return np.stack([h1, h2], axis=1)


def accept_balanced(
    candidates: list[tuple[float, float, int, float]], n_samples: int, exclusion: float
) -> list[int] | None:
    """Indices of candidates ``(h1, h2, label, margin)`` accepted in order, half per class.

    Returns ``None`` when the candidates do not yet fill both classes.
    """
    half = n_samples // 2
    taken: dict[int, list[int]] = {0: [], 1: []}
    for i, (_, _, label, margin) in enumerate(candidates):
        if abs(margin) < exclusion or len(taken[label]) >= half:
            continue
        taken[label].append(i)
        if len(taken[0]) == half and len(taken[1]) == half:
            return sorted(taken[0] + taken[1])
    return None


def plan_topological(config: dict) -> list[dict]:
    """Balanced labels in a seeded random order, each sample with its own seed."""
    m = config["n_samples"]
    rng = np.random.default_rng(config["seed"])
    labels = rng.permutation(np.repeat([0, 1], m // 2))
    seeds = np.random.SeedSequence(config["seed"]).generate_state(m, dtype=np.uint32)
    return [
        {"index": i, "params": {"seed": int(seeds[i])}, "label": int(labels[i])} for i in range(m)
    ]


# ------------------------------------------------------------------------------ builders
def _xxx_diagnostics(state, n: int) -> dict:
    middle = (n // 2 - 1) & ~1  # an even site with bonds (m, m+1), (m+1, m+2) inside the chain
    return {
        "edge_bond": _expect(state, heisenberg_bond(0, 1), n),
        "bulk_even_bond": _expect(state, heisenberg_bond(middle, middle + 1), n),
        "bulk_odd_bond": _expect(state, heisenberg_bond(middle + 1, middle + 2), n),
    }


def cluster_strings(n: int) -> tuple[PauliString, PauliString]:
    """Finite-chain string orders over the middle half (an even number of ``X`` from 8 qubits)."""
    m = max(1, (n // 4) // 2 * 2)
    a = (n - 2 * m) // 2
    b = a + 2 * m
    middle = tuple((k, "X") for k in range(a + 1, b, 2))
    return PauliString(((a, "Z"), *middle, (b, "Z"))), PauliString(middle)


def _cluster_diagnostics(state, n: int) -> dict:
    spt, trivial = cluster_strings(n)
    return {
        "finite_string_order_spt": _expect(state, spt, n),
        "finite_string_order_trivial": _expect(state, trivial, n),
    }


def _dmrg_record(result) -> dict:
    return {
        "energy": result.energy,
        "truncation_error": result.truncation_error,
        "bond_dim": result.bond_dim,
        "sweeps": result.sweeps,
        "converged": result.converged,
    }


def build_sample(config: dict, sample: dict) -> tuple[np.ndarray | MPS, dict]:
    """Build one state of a dataset; returns ``(state, record)``. Runs in worker processes."""
    start = time.perf_counter()
    name, n = config["name"], config["n_qubits"]
    params = sample["params"]
    record: dict = {"index": sample["index"], "label": sample["label"], "params": params}
    record.update({k: sample[k] for k in ("evidence",) if k in sample})
    if name == "toric-vs-semion":
        from qnnlab.data.topological import topological_sample

        opts = config["options"]
        state, meta = topological_sample(
            sample["label"], seed=params["seed"], strength=opts["strength"], layers=opts["layers"]
        )
        record.update({"method": "exact", "energy": None, "perturbation": meta})
    elif name == "xxx":
        if config["method"] == "exact":
            ham = bond_alternating_xxx(n, params["J1"], params["J2"])
            exact = exact_ground_state(ham, n, sector=("ones", n // 2))
            state = exact.vector
            record.update({"method": "exact", "energy": exact.energy, "gap": exact.gap})
        else:
            model = BondAlternatingXXXModel({"L": n, "J1": params["J1"], "J2": params["J2"]})
            initial = ["up", "down"] * (n // 2) + ["up"] * (n % 2)
            result = run_dmrg(model, initial, DMRGSettings(**config["dmrg"]))
            state = result.mps
            record.update({"method": "dmrg", **_dmrg_record(result)})
        record["diagnostics"] = _xxx_diagnostics(state, n)
    elif name == "cluster-ising":
        j = config["options"]["j"]
        if config["method"] == "exact":
            exact = exact_ground_state(cluster_ising(n, params["h1"], params["h2"], j), n)
            state = exact.vector
            record.update({"method": "exact", "energy": exact.energy, "gap": exact.gap})
        else:
            best = None
            for initial in (["up"] * n, ["down"] + ["up"] * (n - 1)):  # both parity sectors
                model = ClusterIsingModel({"L": n, "J": j, "h1": params["h1"], "h2": params["h2"]})
                result = run_dmrg(
                    model,
                    initial,
                    DMRGSettings(**config["dmrg"]),
                    basis_change=CLUSTER_BASIS_CHANGE,
                )
                if best is None or result.energy < best.energy:
                    best = result
            state = best.mps
            record.update({"method": "dmrg", **_dmrg_record(best)})
        record["diagnostics"] = _cluster_diagnostics(state, n)
    else:  # pragma: no cover - resolve_config rejects unknown names
        raise DatasetConfigError(f"Unknown dataset {name!r}.")
    record["wall_time"] = time.perf_counter() - start
    return state, record
