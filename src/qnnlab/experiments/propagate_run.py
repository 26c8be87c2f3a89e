"""``qnnlab propagate``: one QCNN readout observable, propagated in the Heisenberg picture, as a
run folder (``config.json``, ``results.json``, ``weight_mass.csv``, ``weight_mass.png``).

The circuit is ``qcnn(N, conv_block=block)`` with angles drawn uniformly in ``[0, 2 pi)`` from
``seed`` (float64); the observable is ``Z`` on the readout qubit unless given. The result
reports the number of strings, the dropped coefficient mass (by cause) and its error bound, the
value on ``|0..0>``, the statevector engine's exact value when ``N <= MAX_EXACT_QUBITS``, and
the coefficient mass per Pauli weight.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from qnnlab.checks import check_int, check_real, check_seed
from qnnlab.circuits.paulis import as_observable
from qnnlab.engines.pauliprop import propagate
from qnnlab.runtime.rundir import RunDirectory

#: widest circuit whose exact value the statevector engine computes for comparison
MAX_EXACT_QUBITS = 20
#: widest QCNN this command builds
MAX_QUBITS = 4096


@dataclass(frozen=True)
class PropagateConfig:
    """Every number of one propagation (module docstring)."""

    qubits: int
    block: str = "su4"
    seed: int = 0
    max_weight: int | None = None
    min_coeff: float | None = None
    max_freq: int | None = None
    max_terms: int | None = None
    observable: str | None = None
    share_weights: bool = True
    exact: bool | None = None

    def validate(self) -> None:
        from qnnlab.models.qcnn import CONV_BLOCKS

        check_int("--qubits", self.qubits, minimum=2, maximum=MAX_QUBITS)
        if self.block not in CONV_BLOCKS:
            raise ValueError(f"--block {self.block!r}: choose one of {sorted(CONV_BLOCKS)}.")
        check_seed("--seed", self.seed)
        for flag, value, low in (
            ("--max-weight", self.max_weight, 1),
            ("--max-freq", self.max_freq, 0),
            ("--max-terms", self.max_terms, 1),
        ):
            if value is not None:
                check_int(flag, value, minimum=low, hint="Leave it out for no cut.")
        if self.min_coeff is not None:
            check_real("--min-coeff", self.min_coeff, minimum=0.0, min_open=True)
        if self.exact and self.qubits > MAX_EXACT_QUBITS:
            raise ValueError(
                f"--exact: {self.qubits} qubits are too wide for the statevector reference "
                f"(at most {MAX_EXACT_QUBITS}); drop --exact."
            )

    @property
    def wants_exact(self) -> bool:
        return self.qubits <= MAX_EXACT_QUBITS if self.exact is None else bool(self.exact)


@dataclass
class PropagateRun:
    results: dict
    directory: Path


def build_qcnn_case(config: PropagateConfig):
    """``(circuit, observable, theta)`` of a propagate config."""
    from qnnlab.models import qcnn, qcnn_readout

    circuit = qcnn(config.qubits, conv_block=config.block, share_weights=config.share_weights)
    observable = (
        qcnn_readout(circuit) if config.observable is None else as_observable(config.observable)
    )
    theta = np.random.default_rng(config.seed).uniform(0.0, 2 * np.pi, circuit.n_params)
    return circuit, observable, theta


def exact_value(circuit, observable, theta) -> float:
    """``<0..0| U^dag O U |0..0>`` from the complex128 statevector engine."""
    from qnnlab.engines import StatevectorEngine

    engine = StatevectorEngine(circuit, dtype="complex128")
    return float(engine.expval(theta, None, observable))


def run_propagate(
    config: PropagateConfig, out: str | Path, *, command: str | None = None
) -> PropagateRun:
    """Propagate, compare with the exact value where possible, and write the run folder."""
    config.validate()
    run = RunDirectory(out)
    run.write_config(asdict(config), command, owner="qnnlab propagate")
    circuit, observable, theta = build_qcnn_case(config)
    start = time.perf_counter()
    result = propagate(
        circuit,
        observable,
        theta,
        max_weight=config.max_weight,
        min_coeff=config.min_coeff,
        max_freq=config.max_freq,
        max_terms=config.max_terms,
    )
    seconds = time.perf_counter() - start
    exact = exact_value(circuit, observable, theta) if config.wants_exact else None
    value = result.expval_zero()
    mass = result.weight_mass()
    results = {
        "n_qubits": config.qubits,
        "block": config.block,
        "seed": config.seed,
        "n_params": circuit.n_params,
        "observable": str(observable),
        "truncation": asdict(result.truncation),
        "mode": result.mode,
        "n_terms": result.n_terms,
        "peak_terms": result.peak_terms,
        "n_steps": result.n_steps,
        "n_layers": result.n_layers,
        "dropped_mass": result.dropped_mass,
        "dropped_by_cause": result.dropped,
        "error_bound": result.error_bound,
        "value": value,
        "exact_value": exact,
        "abs_error": None if exact is None else abs(value - exact),
        "weight_mass": mass.tolist(),
        "seconds": seconds,
    }
    run.write_results(results)
    run.write_csv(
        "weight_mass.csv",
        ("weight", "mass", "strings"),
        [
            (k, float(m), int(c))
            for k, (m, c) in enumerate(
                zip(
                    mass,
                    np.bincount(result.operator.table.weights(), minlength=len(mass)),
                    strict=True,
                )
            )
        ],
    )
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ks = np.arange(len(mass))
    positive = mass > 0
    ax.semilogy(ks[positive], mass[positive], "o-")
    ax.set_xlabel("Pauli weight k")
    ax.set_ylabel("coefficient mass W_k")
    ax.set_title(f"QCNN {config.block}, {config.qubits} qubits, {result.n_terms} strings")
    fig.tight_layout()
    run.save_figure(fig, "weight_mass.png")
    plt.close(fig)
    run.log(f"propagated: {result.n_terms} strings in {seconds:.2f} s")
    return PropagateRun(results, run.path)
