"""The ``qnnlab`` command line. Thin: parse, call the library, print where results went."""

from __future__ import annotations

import argparse
import shlex
import sys

from qnnlab.version import __version__


def _variance(args: argparse.Namespace) -> int:
    from qnnlab.analysis.dqnn_variance import DQNNVarianceConfig
    from qnnlab.analysis.variance import VarianceScanConfig, parse_qubits
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
    if args.hidden_layers < 0:
        raise ValueError(f"--hidden-layers must be >= 0, got {args.hidden_layers}.")
    if args.ansatz == "dqnn-haar":
        given = [flag for flag, set_ in circuit_only.items() if set_]
        if given:
            raise ValueError(f"{', '.join(given)}: not used by --ansatz dqnn-haar; drop it.")
        config = DQNNVarianceConfig(
            mode=args.mode,
            cost=args.cost,
            qubits=parse_qubits(args.qubits),
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
            qubits=parse_qubits(args.qubits),
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


def _parse_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with a JSON value (``ratio_range=[0.2,1.8]``) or a bare string."""
    import json

    if "=" not in text:
        raise ValueError(f"--option expects KEY=VALUE, got {text!r}.")
    key, value = text.split("=", 1)
    try:
        return key.strip().replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.strip().replace("-", "_"), value


def _dataset_build(args: argparse.Namespace) -> int:
    from qnnlab.data import build_dataset

    options = dict(_parse_option(o) for o in args.option)
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
    import json

    from qnnlab.data import load_dataset

    summary = load_dataset(args.path).summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    import json

    from qnnlab.experiments.registry import experiment_names, get_experiment
    from qnnlab.runtime.rundir import default_run_dir

    if args.list or not args.name:
        for name in experiment_names():
            print(f"{name:<18} {get_experiment(name).summary}")
        return 0
    experiment = get_experiment(args.name)
    config = experiment.config_type.quick() if args.quick else experiment.config_type()
    overrides = dict(_parse_option(o) for o in args.set)
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
    )
    parser.add_argument("--version", action="version", version=f"qnnlab {__version__}")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if args.command in ("variance", "reproduce"):
        from qnnlab.runtime.caches import enable_compilation_cache

        enable_compilation_cache()
    try:
        return args.func(args)
    except ValueError as err:  # bad input: say what is wrong, no traceback
        print(f"qnnlab {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
