"""The ``qnnlab`` command line. Thin: parse, call the library, print where results went."""

from __future__ import annotations

import argparse
import shlex
import sys

from qnnlab.version import __version__


def _variance(args: argparse.Namespace) -> int:
    from qnnlab.analysis.variance import VarianceScanConfig, parse_qubits
    from qnnlab.experiments.variance_run import run_variance_scan
    from qnnlab.runtime.rundir import default_run_dir

    config = VarianceScanConfig(
        ansatz=args.ansatz,
        cost=args.cost,
        qubits=parse_qubits(args.qubits),
        draws=args.draws,
        seed=args.seed,
        layers=args.layers,
        param=args.param,
        dtype=args.dtype,
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
        choices=["toy-ry", "hea"],
        default="toy-ry",
        help="toy-ry: product of RY (Fig. 3(a) perceptron); hea: layered "
        "hardware-efficient ansatz (default: %(default)s)",
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except ValueError as err:  # bad input: say what is wrong, no traceback
        print(f"qnnlab {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
