"""What classical shadows see in the phase datasets: local order vs hidden topological order.

Two checks, written as one run folder (``results.json``, ``shadow_features.csv``,
``shadow_features.png``):

1. **Bond-alternating XXX chain.** For every ground state of the dataset, the bulk dimerization
   ``D = <S_m . S_{m+1}> - <S_{m+1} . S_{m+2}>`` (``m`` the even site nearest the middle;
   ``S_i . S_j = (X_i X_j + Y_i Y_j + Z_i Z_j) / 4``) is estimated from a classical shadow by
   median of means and compared with its exact value. The trivial phase has its strong bonds on
   even links (``D < 0``), the topological phase on odd links (``D > 0``): a *local* observable
   separates the phases, which is why a QCNN, or a classical surrogate on shadow features,
   classifies them. The sign of ``D`` is reported as a one-feature classifier.
2. **Toric code vs double semion.** From shadows of the 12-qubit samples, the largest estimated
   two-qubit Pauli expectation (over all 66 pairs and 9 Pauli pairs) is at sampling noise for
   both classes (all 2-qubit marginals are maximally mixed), while the 6-body plaquette operator
   ``prod_{e in p} X_e`` of the toric code reads ``+1`` against ``-1/4``: the label lives only in
   non-local operators.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from qnnlab.circuits.paulis import PauliString, PauliSum
from qnnlab.data import build_dataset
from qnnlab.data.hamiltonians import dense_expectation, heisenberg_bond
from qnnlab.data.topological import honeycomb_torus
from qnnlab.runtime.checkpoint import write_json
from qnnlab.shadows import estimate, sample_shadow


def dimerization(n_qubits: int) -> PauliSum:
    """``S_m . S_{m+1} - S_{m+1} . S_{m+2}`` with ``m`` the even site nearest the middle."""
    m = (n_qubits // 2 - 1) & ~1
    return heisenberg_bond(m, m + 1) + heisenberg_bond(m + 1, m + 2, -1.0)


def _two_qubit_max(shadow) -> float:
    """Largest |estimate| of any two-qubit Pauli string ``P_q P'_p`` (plain means)."""
    values = np.zeros((shadow.n_snapshots, shadow.n_qubits, 3))
    sign = 1.0 - 2.0 * shadow.bits
    for letter in range(3):
        values[:, :, letter] = 3.0 * (shadow.recipes == letter) * sign
    means = np.einsum("tqa,tpb->qpab", values, values) / shadow.n_snapshots
    off_diagonal = ~np.eye(shadow.n_qubits, dtype=bool)
    return float(np.abs(means[off_diagonal]).max())


def run_shadow_features(
    out: str | Path,
    *,
    n_qubits: int = 12,
    n_samples: int = 40,
    n_snapshots: int = 2000,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
) -> dict:
    """Run both checks (see module doc) and write the run folder; returns the results dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    xxx = build_dataset(
        "xxx", n_qubits, n_samples, seed, cache_dir=cache_dir, workers=workers, progress=False
    )
    feature = dimerization(n_qubits)
    rows = []
    for i in range(len(xxx)):
        state = xxx.state(i)
        shadow = sample_shadow(state, n_snapshots, seed=seed * 100_003 + i)
        est = estimate(shadow, feature)
        rows.append(
            {
                "ratio": float(xxx.parameters("ratio")[i]),
                "label": int(xxx.labels[i]),
                "dimerization_exact": dense_expectation(state, feature, n_qubits),
                "dimerization_shadow": est.value,
                "std_error": est.std_error,
            }
        )
    z = [(r["dimerization_shadow"] - r["dimerization_exact"]) / r["std_error"] for r in rows]
    predicted = [int(r["dimerization_shadow"] > 0) for r in rows]
    accuracy = float(np.mean([p == r["label"] for p, r in zip(predicted, rows, strict=True)]))

    topo = build_dataset(
        "toric-vs-semion", 12, n_samples, seed, cache_dir=cache_dir, progress=False
    )
    plaquette = PauliString(tuple((e, "X") for e in sorted(honeycomb_torus().plaquette_edges[0])))
    topo_rows = []
    for i in range(len(topo)):
        shadow = sample_shadow(topo.state(i), n_snapshots, seed=seed * 100_003 + 50_000 + i)
        topo_rows.append(
            {
                "label": int(topo.labels[i]),
                "max_two_qubit_estimate": _two_qubit_max(shadow),
                # A weight-6 string matches a snapshot's bases once in 3^6 = 729 draws: the
                # plain mean (groups=1) keeps those rare hits, a median of means would drop them.
                "plaquette_x_shadow": estimate(shadow, plaquette, groups=1).value,
            }
        )
    by_class = {
        name: {
            "max_two_qubit_estimate": float(
                max(r["max_two_qubit_estimate"] for r in topo_rows if r["label"] == k)
            ),
            "plaquette_x_mean": float(
                np.mean([r["plaquette_x_shadow"] for r in topo_rows if r["label"] == k])
            ),
            "plaquette_x_stderr": float(
                np.std([r["plaquette_x_shadow"] for r in topo_rows if r["label"] == k], ddof=1)
                / np.sqrt(sum(r["label"] == k for r in topo_rows))
            ),
        }
        for k, name in enumerate(topo.label_names)
    }
    results = {
        "xxx": {
            "dataset": str(xxx.folder),
            "n_qubits": n_qubits,
            "n_snapshots": n_snapshots,
            "dimerization_max_abs_z": float(np.max(np.abs(z))),
            "dimerization_sign_accuracy": accuracy,
        },
        "toric_vs_semion": {
            "dataset": str(topo.folder),
            "n_snapshots": n_snapshots,
            # Expected largest |estimate| of 594 zero-mean two-qubit strings (single-snapshot
            # variance 9) per sample over all samples: sigma * sqrt(2 ln(2 N)).
            "two_qubit_noise_floor": float(
                np.sqrt(9 / n_snapshots) * np.sqrt(2 * np.log(2 * 594 * len(topo_rows)))
            ),
            "by_class": by_class,
        },
    }
    write_json(out / "results.json", results)
    with open(out / "shadow_features.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _plot(rows, topo_rows, topo.label_names, out / "shadow_features.png")
    return results


def _plot(rows, topo_rows, label_names, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    order = np.argsort([r["ratio"] for r in rows])
    ratio = np.array([r["ratio"] for r in rows])[order]
    exact = np.array([r["dimerization_exact"] for r in rows])[order]
    left.plot(ratio, exact, "k-", label="exact")
    left.errorbar(
        ratio,
        np.array([r["dimerization_shadow"] for r in rows])[order],
        yerr=np.array([r["std_error"] for r in rows])[order],
        fmt="o",
        ms=3,
        label="classical shadow",
    )
    left.axvline(1.0, color="grey", ls=":")
    left.axhline(0.0, color="grey", ls=":")
    left.set(xlabel="J2 / J1", ylabel="bulk dimerization D", title="XXX chain: local order")
    left.legend()
    for k, name in enumerate(label_names):
        pts = [r for r in topo_rows if r["label"] == k]
        right.scatter(
            [r["max_two_qubit_estimate"] for r in pts],
            [r["plaquette_x_shadow"] for r in pts],
            s=12,
            label=name,
        )
    right.set(
        xlabel="max |two-qubit Pauli estimate|",
        ylabel="<prod X> on a plaquette",
        title="Toric code vs double semion: only non-local",
    )
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
