"""The ``qnnlab`` command line. Thin: parse, call the library, print where results went."""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import socket
import sys
from pathlib import Path

from qnnlab.version import __version__


def _variance(args: argparse.Namespace) -> int:
    from qnnlab.analysis.dqnn_variance import MAX_HIDDEN_LAYERS, DQNNVarianceConfig
    from qnnlab.analysis.variance import VarianceScanConfig, parse_qubits
    from qnnlab.checks import check_int
    from qnnlab.experiments.variance_run import run_variance_scan
    from qnnlab.runtime.rundir import default_run_dir

    haar_only = {
        "--mode": args.mode != "theorem1",
        "--n-out": args.n_out is not None,
        "--hidden-layers": args.hidden_layers != 0,
        "--pairs": args.pairs != 1,
    }
    circuit_only = {
        "--layers": args.layers is not None,
        "--param": args.param != 0,
        "--dtype": args.dtype != "complex64",
        "--block": args.block != "ry-cz",
    }
    if args.ansatz == "dqnn-haar":
        given = [flag for flag, set_ in circuit_only.items() if set_]
        if given:
            raise ValueError(f"{', '.join(given)}: not used by --ansatz dqnn-haar; drop it.")
        check_int("--hidden-layers", args.hidden_layers, minimum=0, maximum=MAX_HIDDEN_LAYERS)
        config = DQNNVarianceConfig(
            mode=args.mode,
            cost=args.cost,
            qubits=parse_qubits(args.qubits, maximum=DQNNVarianceConfig.MAX_QUBITS),
            hidden=[None] * args.hidden_layers,
            n_out=args.n_out,
            pairs=args.pairs,
            draws=args.draws,
            seed=args.seed,
        )
    else:
        given = [flag for flag, set_ in haar_only.items() if set_]
        if given:
            raise ValueError(
                f"{', '.join(given)}: only for --ansatz dqnn-haar; drop it or pick that ansatz."
            )
        config = VarianceScanConfig(
            ansatz=args.ansatz,
            cost=args.cost,
            qubits=parse_qubits(args.qubits, maximum=VarianceScanConfig.MAX_QUBITS),
            draws=args.draws,
            seed=args.seed,
            layers=args.layers,
            param=args.param,
            dtype=args.dtype,
            block=args.block,
        )
    config.validate()
    out = args.out or default_run_dir(f"variance-{args.ansatz}-{args.cost}")
    command = "qnnlab " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run = run_variance_scan(config, out, progress=not args.no_progress, command=command)
    scan = run.scan
    width = max(len(str(n)) for n in scan.qubits)
    theory = scan.theory()
    for i, e in enumerate(scan.estimates):
        extra = "" if theory is None else f"   theory {theory[i]:.4e}"
        print(f"n={e.n_qubits:>{width}}  Var={e.variance:.4e} +- {e.stderr:.2e}{extra}")
    if scan.fits is not None:
        print(scan.fits.summary())
    print(f"results: {run.results}")
    print(f"table:   {run.table}")
    print(f"plot:    {run.plot}")
    return 0


def _propagate(args: argparse.Namespace) -> int:
    from qnnlab.experiments.propagate_run import PropagateConfig, run_propagate
    from qnnlab.runtime.rundir import default_run_dir

    config = PropagateConfig(
        qubits=args.qubits,
        block=args.block,
        seed=args.seed,
        max_weight=args.max_weight,
        min_coeff=args.min_coeff,
        max_freq=args.max_freq,
        max_terms=args.max_terms,
        observable=args.observable,
        share_weights=not args.no_sharing,
        exact=args.exact,
    )
    config.validate()
    out = args.out or default_run_dir(f"propagate-{args.block}-{args.qubits}")
    command = "qnnlab " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    r = run_propagate(config, out, command=command).results
    print(
        f"{r['n_qubits']} qubits, {r['block']} blocks: {r['n_terms']} strings "
        f"(peak {r['peak_terms']}) in {r['seconds']:.2f} s"
    )
    print(f"dropped mass {r['dropped_mass']:.3e} (error bound {r['error_bound']:.3e})")
    exact = r["exact_value"]
    tail = "" if exact is None else f"   exact {exact:.10f}   |error| {r['abs_error']:.2e}"
    print(f"value on |0..0> {r['value']:.10f}{tail}")
    spectrum = "  ".join(f"{k}:{m:.3g}" for k, m in enumerate(r["weight_mass"]) if m > 0)
    print(f"mass by weight  {spectrum}")
    print(f"results: {Path(out) / 'results.json'}")
    return 0


def _add_propagate_parser(sub) -> None:
    p = sub.add_parser(
        "propagate",
        help="Pauli-propagate a QCNN readout observable and show its weight spectrum",
        description=(
            "Propagate Z on the readout qubit of qcnn(N) (angles uniform in [0, 2 pi) from "
            "--seed, float64) backwards through the circuit, with optional truncations, and "
            "write results.json, weight_mass.csv and weight_mass.png into --out."
        ),
    )
    p.add_argument("--qubits", type=int, required=True, help="chain length N")
    p.add_argument(
        "--block",
        choices=["su4", "so4", "ry-cnot"],
        default="su4",
        help="convolution block (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="angle seed (default: %(default)s)")
    p.add_argument("--max-weight", type=int, default=None, help="drop strings above weight K")
    p.add_argument(
        "--min-coeff", type=_finite_float, default=None, help="drop strings with |c| < C"
    )
    p.add_argument(
        "--max-freq", type=int, default=None, help="drop paths with more than F sin/cos branches"
    )
    p.add_argument(
        "--max-terms", type=int, default=None, help="keep the M largest strings per layer"
    )
    p.add_argument(
        "--observable",
        default=None,
        help="Pauli string to propagate, e.g. 'Z7' or 'X0 X1' (default: Z on the readout qubit)",
    )
    p.add_argument("--no-sharing", action="store_true", help="one parameter set per block")
    p.add_argument(
        "--exact",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compare with the statevector engine (default: when N <= 20)",
    )
    p.add_argument("--out", default=None, help="output folder (default: runs/propagate-...)")
    p.set_defaults(func=_propagate)


def _audit(args: argparse.Namespace) -> int:
    from qnnlab.experiments.audit import audit, resolve_model
    from qnnlab.runtime.rundir import default_run_dir

    resolve_model(args.model)  # a bad spec fails here, before a dataset is built
    command = "qnnlab " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    label = args.model.replace(":", "-").replace(",", "-").replace("=", "")
    out = args.out or default_run_dir(f"audit-{label}")
    result = audit(
        args.model,
        args.observable,
        args.dataset,
        shots_budget=args.shots_budget,
        out=out,
        qubits=args.qubits,
        max_weight=args.max_weight,
        seed=args.seed,
        progress=not args.no_progress,
        draws=args.draws,
        epochs=args.epochs,
        cache_dir=args.cache_dir,
        workers=args.workers,
        command=command,
    )
    for finding, question in (
        (result.verdict.trainability, "trainable?"),
        (result.verdict.simulability, "needs a quantum computer?"),
    ):
        print(f"{question:<27} [{finding.level.upper()}] {finding.label}")
        for reason in finding.reasons:
            print(f"{'':<29}- {reason}")
    if result.resumed:
        print(f"loaded from checkpoints: {', '.join(result.resumed)}")
    print(f"report:  {result.report_paths['html']}")
    print(f"         {result.report_paths['markdown']}")
    print(f"numbers: {result.report_paths['json']}")
    return 0


AUDIT_DESCRIPTION = """\
Audit one quantum neural network on one dataset and answer the two questions of the seed
papers in one report (report.md, self-contained report.html, audit.json, PNG plots in --out):

  Is it trainable?  The variance of the gradient dC/dtheta over uniformly random parameters
    (C = <O>, input |0..0>) at each qubit count of --qubits, fitted as exponential decay b^n
    (a barren plateau) and as a power law n^-p, compared by AIC (discounted when the points
    scatter beyond their error bars).
  Does it need a quantum computer?  Each state is measured --shots-budget times in random
    Pauli bases (classical shadows). The model's own Pauli propagation, cut at weight
    --max-weight, is trained on the Pauli expectation values estimated from those snapshots,
    beside a logistic-regression baseline on the same features, and compared with the exact
    (statevector) model trained on the states. If the classical learner matches the exact
    model, the task does not need a quantum computer beyond collecting the snapshots.

Sections: (a) trainability scan, (b) locality: squared Pauli-coefficient mass of U^dag O U per
Pauli weight at random and trained parameters, and the accuracy of the trained model's
weight-k truncations, (c) exact model on a stratified 70/30 split, (d) classical surrogates at
k = 1, K (and K+1 when affordable) from shadows, and at K on exact features, (e) the verdict,
with the decision rules and their thresholds written into the report.

Model specs: qcnn | qcnn:so4 | qcnn:ry-cnot | qcnn:block=su4,pool=cry,layers=2,periodic=true,
  share=false  (read out by Z on the last qubit)
  hea | hea:layers=4,block=su4  (layered hardware-efficient ansatz; read out by Z0)
  dqnn | dqnn:layers=2,window=2,depth=1 | dqnn:window=global  (DQNN of parametrized
  perceptrons, n nodes per layer, n*(layers+1) circuit qubits; read out by Z on the first
  output node)
Dataset specs: xxx:qubits=12,samples=100 | cluster-ising:qubits=8,samples=40 |
  toric-vs-semion  (keys qubits, samples, seed and family options such as
  ratio_range=[0.2,1.8]; defaults 12 qubits, 100 samples, seed 0), a dataset folder
  (`qnnlab dataset build`), or a folder of shadow .npz files with labels.txt (one 0/1 per
  line, in file-name order). Without --dataset only (a) and the random part of (b) run.

Verdict levels: trainability OK = polynomial or no decay, WARNING = inconclusive or likely
barren plateau, BAD = barren plateau; quantum computer OK = the exact model beats every
classical learner on the snapshots, WARNING = a classical learner matches it (or nothing can
be compared), BAD = neither learns the task. Your own circuit or builder n -> Circuit:
`qnnlab.audit(model, observable, dataset)` in Python (also (states, labels) and
(shadows, labels) as data).

Resuming: every finished section (each size of the scan, each surrogate) is checkpointed in
--out/checkpoints as soon as it is done. Rerunning the same command into the same folder loads
them and only recomputes what is missing, then rewrites the report; a folder holding another
audit (other settings) is refused.
"""


def _add_audit_parser(sub) -> None:
    a = sub.add_parser(
        "audit",
        help="is a QNN trainable, and does it need a quantum computer? one report",
        description=AUDIT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a.add_argument("--model", required=True, metavar="SPEC", help="model spec (see above)")
    a.add_argument(
        "--dataset",
        default=None,
        metavar="SPEC",
        help="dataset spec, dataset folder or shadow folder (see above)",
    )
    a.add_argument(
        "--observable",
        default=None,
        metavar="P",
        help="readout Pauli string on alive qubits, e.g. 'Z7' or 'X0 X1' (default: Z on the "
        "last alive qubit of a QCNN, on the first alive qubit otherwise)",
    )
    a.add_argument(
        "--shots-budget",
        type=int,
        default=10_000,
        metavar="N",
        help="snapshots per state for the classical shadows (default: %(default)s)",
    )
    a.add_argument(
        "--max-weight",
        type=int,
        default=None,
        metavar="K",
        help="weight cut of the main surrogate (default: 2)",
    )
    a.add_argument(
        "--qubits",
        default=None,
        metavar="LIST",
        help="qubit counts of the trainability scan: '4,6,8', '4..12' or '4..12:2' "
        "(default: 4..12:2, dqnn 2..6)",
    )
    a.add_argument("--seed", type=int, default=0, help="seed of every draw (default: 0)")
    a.add_argument(
        "--draws",
        type=int,
        default=500,
        metavar="N",
        help="random parameter draws per qubit count (default: %(default)s)",
    )
    a.add_argument(
        "--epochs",
        type=int,
        default=100,
        metavar="N",
        help="training epochs of the exact model and the surrogates (default: %(default)s)",
    )
    a.add_argument("--out", default=None, help="output folder (default: runs/audit-MODEL-TIME)")
    a.add_argument("--cache-dir", default=None, help="dataset cache (default: ~/.cache/qnnlab)")
    a.add_argument(
        "--workers", type=int, default=None, help="processes for a dataset build (default: cores)"
    )
    a.add_argument("--no-progress", action="store_true", help="hide progress lines")
    a.set_defaults(func=_audit)


class _NonFinite(ValueError):
    """A JSON value held NaN, Infinity or a number beyond the float range."""


def _refuse_constant(name: str):
    raise _NonFinite(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(f"{text} is beyond the range of a float")
    return value


def parse_setting(text: str, flag: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--option``/``--set``: ``VALUE`` is JSON (``ratio_range=[0.2,1.8]``)
    or, when it is not JSON, a bare string (``sampling=grid``).

    The JSON is strict: ``NaN``, ``Infinity`` and numbers beyond the float range (``1e999``)
    are refused, and so are bare strings that read as such numbers (``nan``, ``inf``), with a
    message naming ``flag`` and the key. Dashes in ``KEY`` become underscores.
    """
    if "=" not in text:
        raise ValueError(f"{flag} expects KEY=VALUE, got {text!r}.")
    raw_key, value = text.split("=", 1)
    key = raw_key.strip().replace("-", "_")
    if not key:
        raise ValueError(f"{flag} {text!r} has no KEY before '='; use {flag} KEY=VALUE.")
    try:
        return key, json.loads(value, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonFinite as err:
        raise ValueError(f"{flag} {key}={value}: {err}; give a finite number.") from None
    except json.JSONDecodeError:
        pass
    try:
        number = float(value)
    except ValueError:
        return key, value
    if not math.isfinite(number):
        raise ValueError(f"{flag} {key}={value}: not a finite number; give a finite number.")
    return key, value


def _dataset_build(args: argparse.Namespace) -> int:
    from qnnlab.data import build_dataset

    options = dict(parse_setting(o, "--option") for o in args.option)
    dmrg = {"chi_max": args.chi_max} if args.chi_max is not None else None
    dataset = build_dataset(
        args.name,
        n_qubits=args.qubits,
        n_samples=args.samples,
        seed=args.seed,
        method=args.method,
        dmrg=dmrg,
        cache_dir=args.cache_dir,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress,
        **options,
    )
    _print_summary(dataset.summary())
    return 0


def _print_summary(summary: dict) -> None:
    config = summary["config"]
    print(
        f"dataset:  {config['name']}  ({config['n_qubits']} qubits, {summary['samples']} samples)"
    )
    print(f"folder:   {summary['folder']}")
    print(f"method:   {config['method']}" + (f"  {config['dmrg']}" if "dmrg" in config else ""))
    print(f"options:  {config['options']}  seed={config['seed']}")
    print("labels:   " + ", ".join(f"{k}: {v}" for k, v in summary["labels"].items()))
    if "energy_range" in summary:
        lo, hi = summary["energy_range"]
        print(f"energies: {lo:.6f} .. {hi:.6f}")
    if "max_bond_dim" in summary:
        print(
            f"DMRG:     max bond dimension {summary['max_bond_dim']}, "
            f"max truncation error {summary['max_truncation_error']:.2e}"
        )
    print(
        f"cost:     {summary['wall_time_per_state_s']:.2f} s per state, "
        f"{summary['wall_time_total_s']:.1f} s in all; {summary['size_on_disk_mb']:.1f} MiB on disk"
    )


def _dataset_info(args: argparse.Namespace) -> int:
    from qnnlab.data import load_dataset

    summary = load_dataset(args.path).summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from qnnlab.experiments.registry import experiment_names, get_experiment
    from qnnlab.runtime.rundir import default_run_dir

    if args.list or not args.name:
        for name in experiment_names():
            print(f"{name:<18} {get_experiment(name).summary}")
        return 0
    experiment = get_experiment(args.name)
    config = experiment.config_type.quick() if args.quick else experiment.config_type()
    overrides = dict(parse_setting(o, "--set") for o in args.set)
    config = config.with_overrides(overrides) if overrides else config.validate()
    if args.dry_run:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    out = args.out or default_run_dir(args.name + ("-quick" if args.quick else ""))
    command = "qnnlab " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = experiment.run(
        config,
        out,
        progress=not args.no_progress,
        command=command,
        workers=args.workers,
        scheduler=args.scheduler,
        cache_dir=args.cache_dir,
    )
    for line in experiment.report(result):
        print(line)
    print(f"results: {result.directory}")
    return 0


def _add_reproduce_parser(sub) -> None:
    r = sub.add_parser(
        "reproduce",
        help="reproduce a paper figure by name (see --list)",
        description=(
            "Run a registered experiment and write config.json, results.json, CSV tables and "
            "PNG plots into --out. Every finished fit is checkpointed there: rerunning the same "
            "command into the same folder resumes. --quick runs a small version; --set KEY=VALUE "
            "changes one setting (JSON value, e.g. --set runs=3 --set train_sizes=[20,100])."
        ),
    )
    r.add_argument("name", nargs="?", help="experiment name (qnnlab reproduce --list)")
    r.add_argument("--list", action="store_true", help="list the experiments and exit")
    r.add_argument("--quick", action="store_true", help="a small version (about a minute)")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting (JSON value); --dry-run shows them all",
    )
    r.add_argument("--dry-run", action="store_true", help="print the resolved settings and exit")
    r.add_argument("--out", default=None, help="output folder (default: runs/NAME-TIME)")
    r.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes for dataset builds and fits (default: datasets on all cores, fits in "
        "this process)",
    )
    r.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786)")
    r.add_argument("--cache-dir", default=None, help="dataset cache (default: ~/.cache/qnnlab)")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")
    r.set_defaults(func=_reproduce)


def _add_dataset_parsers(sub) -> None:
    d = sub.add_parser("dataset", help="build and inspect cached quantum-phase datasets")
    dsub = d.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    b = dsub.add_parser(
        "build",
        help="build (or load from the cache) a labelled dataset of ground states",
        description=(
            "Build a labelled dataset of quantum states: 'xxx' (bond-alternating Heisenberg), "
            "'cluster-ising' (alias 'haldane'), 'toric-vs-semion' (12 qubits). States are exact "
            "up to 16 qubits and DMRG matrix product states beyond; each finished state is saved "
            "at once, so rerunning an interrupted build computes only what is missing."
        ),
    )
    b.add_argument("name", help="xxx | cluster-ising | toric-vs-semion")
    b.add_argument("--qubits", type=int, required=True, help="chain length")
    b.add_argument("--samples", type=int, required=True, help="number of states (even)")
    b.add_argument("--seed", type=int, default=0, help="seed of the parameter draw (default 0)")
    b.add_argument("--method", choices=["auto", "exact", "dmrg"], default="auto")
    b.add_argument("--chi-max", type=int, default=None, help="DMRG bond dimension (default 64)")
    b.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="family option, JSON value (e.g. ratio_range=[0.2,1.8], exclusion=0.1)",
    )
    b.add_argument("--workers", type=int, default=None, help="local processes (default: cores)")
    b.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786)")
    b.add_argument("--cache-dir", default=None, help="cache root (default: ~/.cache/qnnlab)")
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    b.set_defaults(func=_dataset_build)
    i = dsub.add_parser("info", help="summarise a built dataset folder")
    i.add_argument("path", help="dataset folder (printed by `qnnlab dataset build`)")
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(func=_dataset_info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qnnlab",
        description="Build, train and audit quantum neural networks on quantum data.",
        epilog="Exit status: 0 done; 2 bad input; 1 refused by the environment (a file in the "
        "way, no permission, an unreachable scheduler). Errors print one line on stderr; "
        "--debug shows the traceback.",
    )
    parser.add_argument("--version", action="version", version=f"qnnlab {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error instead of its one-line message",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    v = sub.add_parser(
        "variance",
        help="gradient-variance (barren plateau) scan over qubit counts",
        description=(
            "Estimate Var[dC/dtheta_nu] over uniformly random parameters for each qubit count, "
            "fit exponential and power-law decay, and write config.json, results.json, "
            "variance.csv and variance.png into --out. Rerunning into the same folder resumes."
        ),
    )
    v.add_argument(
        "--ansatz",
        choices=["toy-ry", "dqnn-swap-ry", "hea", "dqnn-haar"],
        default="toy-ry",
        help="toy-ry: product of RY; dqnn-swap-ry: the same as the [n, n] DQNN of Fig. 3(a) "
        "(SWAP + RY perceptrons); hea: layered hardware-efficient ansatz (= the Fig. 3(b) DQNN, "
        "two DQNN layers per HEA layer); dqnn-haar: DQNN of Haar-random global perceptrons "
        "(Theorems 1-2, see --mode) (default: %(default)s)",
    )
    v.add_argument(
        "--block",
        choices=["ry-cz", "su4"],
        default="ry-cz",
        help="two-qubit block W of the hea ansatz: CZ (RY x RY) or a general SU(4) "
        "(default: %(default)s)",
    )
    v.add_argument(
        "--mode",
        choices=["theorem1", "theorem2"],
        default="theorem1",
        help="dqnn-haar only: theorem1 = dC/dtheta of a rotation inside a Haar perceptron; "
        "theorem2 = dC/ds of the parameter-matrix update (default: %(default)s)",
    )
    v.add_argument(
        "--n-out",
        type=int,
        default=None,
        help="dqnn-haar only: output-layer width (default: n, the square [n, n] network)",
    )
    v.add_argument(
        "--hidden-layers",
        type=int,
        default=0,
        help="dqnn-haar only: hidden layers of width n (default: %(default)s)",
    )
    v.add_argument(
        "--pairs",
        type=int,
        default=1,
        help="dqnn-haar only: training pairs in the cost (default: %(default)s)",
    )
    v.add_argument(
        "--cost",
        choices=["global", "local"],
        default="global",
        help="global (Eq. 3) or local (Eq. 4) fidelity cost (default: %(default)s)",
    )
    v.add_argument(
        "--qubits",
        default="2..10",
        help="qubit counts: '2,4,8', '2..12' or '2..12:2' (default: %(default)s)",
    )
    v.add_argument(
        "--draws",
        type=int,
        default=2000,
        help="random parameter draws per qubit count (default: %(default)s)",
    )
    v.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    v.add_argument(
        "--layers",
        type=int,
        default=None,
        help="layers of the hea ansatz (default: ceil(log2 n), logarithmic depth)",
    )
    v.add_argument(
        "--param",
        type=int,
        default=0,
        help="index of the differentiated parameter; negative counts from the end "
        "(default: %(default)s)",
    )
    v.add_argument(
        "--dtype",
        choices=["complex64", "complex128"],
        default="complex64",
        help="simulation precision (default: %(default)s)",
    )
    v.add_argument("--out", default=None, help="output folder (default: runs/variance-...-TIME)")
    v.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    v.set_defaults(func=_variance)
    _add_dataset_parsers(sub)
    _add_reproduce_parser(sub)
    _add_propagate_parser(sub)
    _add_audit_parser(sub)
    return parser


#: Exit status of a command refused for bad input (as argparse's own usage errors).
EXIT_BAD_INPUT = 2
#: Exit status of a command stopped by its environment: a file or folder in the way, no
#: permission, an unreachable scheduler.
EXIT_ENVIRONMENT = 1

_OS_HINTS: tuple[tuple[type[OSError], str], ...] = (
    (FileExistsError, "a file or folder is in the way: choose another path or remove it"),
    (PermissionError, "no permission there: choose a folder you can write to"),
    (NotADirectoryError, "a file stands where a folder is needed: choose another path"),
    (IsADirectoryError, "a folder stands where a file is needed: choose another path"),
    (FileNotFoundError, "check the path"),
    (ConnectionError, "check that the scheduler is running and reachable (--scheduler)"),
    (TimeoutError, "check that the scheduler is running and reachable (--scheduler)"),
    (socket.gaierror, "check the host name of --scheduler"),
)


def describe_error(err: BaseException) -> tuple[int, str] | None:
    """``(exit status, one-line message)`` for an error caused by the user's input or
    environment, ``None`` for anything else (a bug, which keeps its traceback).

    ``ValueError`` (bad input; every qnnlab configuration error is one) exits with
    :data:`EXIT_BAD_INPUT`; ``OSError`` (files, folders, network) with :data:`EXIT_ENVIRONMENT`,
    its message naming the path and what to do.
    """
    if isinstance(err, OSError):
        if err.errno is None or not err.strerror:  # raised with a message (and fix) of its own
            message = str(err) or type(err).__name__
        else:  # from the operating system: name the path and say what to do
            paths = [p for p in (err.filename, err.filename2) if p is not None]
            message = err.strerror + "".join(f": {os.fsdecode(p)}" for p in paths)
            hint = next((h for kind, h in _OS_HINTS if isinstance(err, kind)), None)
            if hint:
                message = f"{message.rstrip('.')} ({hint})."
        status = EXIT_ENVIRONMENT
    elif isinstance(err, ValueError):
        message, status = str(err), EXIT_BAD_INPUT
    else:
        return None
    return status, " ".join(message.split())


def main(argv: list[str] | None = None) -> int:
    """Run one ``qnnlab`` command; returns its exit status.

    Bad input and refusals of the environment print one line ``qnnlab COMMAND: error: ...``
    on stderr (:func:`describe_error`); ``--debug`` shows their traceback instead. Any other
    exception is a bug and propagates with its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if args.command in ("variance", "reproduce", "audit"):
        from qnnlab.runtime.caches import enable_compilation_cache

        enable_compilation_cache()
    try:
        return args.func(args)
    except (ValueError, OSError) as err:
        described = None if args.debug else describe_error(err)
        if described is None:
            raise
        status, message = described
        print(f"qnnlab {args.command}: error: {message}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
