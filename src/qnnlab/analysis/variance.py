"""Gradient-variance (barren plateau) scans: how ``Var[dC/dtheta_nu]`` scales with qubits.

For each qubit count ``n`` the ansatz is built, ``draws`` parameter vectors are drawn i.i.d.
uniform on ``[0, 2 pi)`` (Eq. 6 of Sharma et al., PRL 128, 180505 (2022), arXiv:2005.12458), and
the partial derivative of the cost with respect to one parameter ``theta_nu`` is computed exactly
for every draw (forward-mode ``jax.jvp`` on the statevector engine, vmapped over draws, input
``|0...0>``). From the ``N`` samples ``g_i``:

* ``Var = s^2 = sum (g_i - gbar)^2 / (N - 1)``,
* its standard error ``SE(s^2) = sqrt((m_4 - s^4 (N - 3)/(N - 1)) / N)`` with ``m_4`` the sample
  fourth central moment (exact for the variance of the sample variance of i.i.d. draws).

Gradient distributions of barren-plateau models are heavy-tailed (for the toy model the kurtosis
grows like ``(35/18)^n``), so ``SE`` is itself noisy at large ``n``: use more draws there.

The scan then fits exponential and power-law decay (:mod:`qnnlab.analysis.fits`) and, for the
toy model, compares with the closed forms ``(1/8)(3/8)^(n-1)`` (global cost) and ``1/(8 n^2)``
(local cost).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from numbers import Integral

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from qnnlab.analysis.fits import ScalingFits, fit_scaling
from qnnlab.checks import check_int, check_seed
from qnnlab.circuits.circuit import Circuit
from qnnlab.engines.statevector import StatevectorEngine
from qnnlab.models.ansatz import ANSATZES, BLOCKS, TOY_MODELS, ansatz_n_params, build_ansatz
from qnnlab.runtime.checkpoint import TaskCheckpoint
from qnnlab.training.costs import COSTS, AffineCost, build_cost

#: Closed forms for the toy model (Cerezo et al. 2021; Sharma et al. 2022, Fig. 3(a) text).
TOY_THEORY: dict[str, Callable[[float], float]] = {
    "global": lambda n: (1 / 8) * (3 / 8) ** (n - 1),
    "local": lambda n: 1 / (8 * n**2),
}


@dataclass(frozen=True)
class VarianceEstimate:
    n_qubits: int
    n_params: int
    draws: int
    variance: float
    stderr: float
    mean: float
    mean_stderr: float
    kurtosis: float
    seconds: float


def sample_statistics(samples: np.ndarray) -> tuple[float, float, float, float, float]:
    """``(variance, SE(variance), mean, SE(mean), kurtosis)`` of i.i.d. samples.

    The kurtosis ``m_4 / s^4`` is reported so heavy tails are visible: when it is comparable to
    the number of draws, the variance and its error bar are both unreliable.
    """
    g = np.asarray(samples, dtype=np.float64)
    n = g.size
    if n < 4:
        raise ValueError(f"need at least 4 draws to estimate a variance and its error, got {n}.")
    mean = float(g.mean())
    centred = g - mean
    var = float(np.sum(centred**2) / (n - 1))
    m4 = float(np.mean(centred**4))
    se_var = math.sqrt(max(m4 - var**2 * (n - 3) / (n - 1), 0.0) / n)
    kurtosis = m4 / var**2 if var > 0 else float("nan")
    return var, se_var, mean, math.sqrt(var / n), kurtosis


def gradient_component_fn(
    circuit: Circuit, cost: AffineCost, param_index: int, dtype="complex64", kernel: str = "dot"
):
    """Pure ``f(theta) -> dC/dtheta[param_index]`` for input ``|0...0>``.

    One forward-mode pass (``jax.jvp`` along the unit vector ``e_nu``): for a single component
    this costs about two forward evaluations, less than a full reverse-mode gradient.
    """
    engine = StatevectorEngine(circuit, dtype=dtype, diff_method="backprop", kernel=kernel)
    expval = engine.expval_fn(cost.observable)
    k = len(circuit.input_qubits)
    psi0 = jnp.zeros((1, 2**k), dtype=engine.dtype).at[0, 0].set(1)
    direction = jnp.zeros(circuit.n_params, dtype=engine.real_dtype).at[param_index].set(1)

    def cost_of(theta):
        return cost(expval(theta, psi0)[0])

    return lambda theta: jax.jvp(cost_of, (theta,), (direction,))[1], engine.real_dtype


#: Bytes of statevector per chunk of draws: small enough to stay in cache on common CPUs.
CHUNK_BYTES = 8 * 2**20
#: Above this many amplitudes in total (draws x 2**n) run time outweighs compile time, and the
#: scan switches from the quick-to-compile ``dot`` kernel to the quick-to-run ``slices`` kernel.
SLICES_KERNEL_ABOVE = 2**24


def gradient_samples(
    circuit: Circuit,
    cost: AffineCost,
    *,
    draws: int,
    key,
    param_index: int = 0,
    chunk_size: int | None = None,
    dtype="complex64",
) -> np.ndarray:
    """``draws`` samples of ``dC/dtheta_nu`` with ``theta ~ U[0, 2 pi)^P``.

    The draws are vmapped in chunks of ``chunk_size`` (default: about ``CHUNK_BYTES`` of state)
    and the chunks run in one compiled ``lax.map`` loop. The angles are drawn for all ``draws``
    at once, so the samples do not depend on the chunk size.
    """
    if not -circuit.n_params <= param_index < circuit.n_params:
        raise ValueError(
            f"param index {param_index} is out of range: the circuit has {circuit.n_params} "
            "parameters."
        )
    param_index %= circuit.n_params
    kernel = "slices" if draws * 2**circuit.n_qubits > SLICES_KERNEL_ABOVE else "dot"
    grad_fn, real = gradient_component_fn(circuit, cost, param_index, dtype, kernel)
    thetas = jax.random.uniform(key, (draws, circuit.n_params), dtype=real, maxval=2 * math.pi)
    if chunk_size is None:
        state_bytes = (2**circuit.n_qubits) * 2 * jnp.dtype(real).itemsize
        chunk_size = max(8, CHUNK_BYTES // state_bytes)
    chunk_size = int(min(chunk_size, draws))
    n_chunks = -(-draws // chunk_size)
    padded = jnp.concatenate([thetas, thetas[: n_chunks * chunk_size - draws]])
    chunks = padded.reshape(n_chunks, chunk_size, circuit.n_params)
    run = jax.jit(lambda t: jax.lax.map(jax.vmap(grad_fn), t))
    return np.asarray(run(chunks)).reshape(-1)[:draws]


def estimate_gradient_variance(
    circuit: Circuit,
    cost: AffineCost,
    *,
    draws: int,
    seed: int,
    param_index: int = 0,
    dtype="complex64",
) -> VarianceEstimate:
    """Variance of ``dC/dtheta_nu`` over random parameters for one circuit (module docstring)."""
    start = time.perf_counter()
    key = jax.random.fold_in(jax.random.key(seed), circuit.n_qubits)
    samples = gradient_samples(
        circuit, cost, draws=draws, key=key, param_index=param_index, dtype=dtype
    )
    var, se, mean, se_mean, kurtosis = sample_statistics(samples)
    return VarianceEstimate(
        circuit.n_qubits,
        circuit.n_params,
        draws,
        var,
        se,
        mean,
        se_mean,
        kurtosis,
        time.perf_counter() - start,
    )


#: Largest number of random draws per qubit count a scan accepts.
MAX_DRAWS = 10**6
#: Largest ``layers`` of the ``hea`` ansatz in a scan: every gate is traced into the compiled
#: program, so deeper circuits take longer to compile than to run.
MAX_SCAN_LAYERS = 1000
#: Memory the table of random angles (``draws x n_params``) may take, in bytes.
MAX_ANGLE_BYTES = 2**30


@dataclass
class VarianceScanConfig:
    """Everything that determines a scan's numbers (its fingerprint keys the checkpoint)."""

    #: Largest qubit count: a dense statevector of ``2**26`` amplitudes per draw in a chunk.
    MAX_QUBITS = 26

    ansatz: str = "toy-ry"
    cost: str = "global"
    qubits: list[int] = field(default_factory=lambda: [2, 4, 6, 8])
    draws: int = 2000
    seed: int = 0
    layers: int | None = None
    param: int = 0
    dtype: str = "complex64"
    block: str = "ry-cz"

    def validate(self) -> VarianceScanConfig:
        """Check every setting from its value alone, before any circuit or array is built.

        Checked: known ansatz, cost, block and dtype; distinct qubit counts in
        ``1..MAX_QUBITS``; ``draws`` in ``4..MAX_DRAWS``; ``seed`` in ``[0, 2**63 - 1]``;
        ``layers`` in ``1..MAX_SCAN_LAYERS`` (``hea`` only); ``param`` an integer; the angle
        table ``draws x n_params`` within ``MAX_ANGLE_BYTES``. Returns ``self`` (with sorted
        ``qubits``) or raises ``ValueError`` naming the fix.
        """
        if self.ansatz not in ANSATZES:
            raise ValueError(f"unknown ansatz {self.ansatz!r}; choose one of {sorted(ANSATZES)}.")
        if self.cost not in COSTS:
            raise ValueError(f"unknown cost {self.cost!r}; choose one of {sorted(COSTS)}.")
        qubits = list(self.qubits)
        if (
            not qubits
            or any(isinstance(q, bool) or not isinstance(q, Integral) or q < 1 for q in qubits)
            or len(set(qubits)) != len(qubits)
        ):
            raise ValueError(f"qubits must be distinct positive integers, got {self.qubits}.")
        qubits = [int(q) for q in qubits]
        if max(qubits) > self.MAX_QUBITS:
            raise ValueError(
                f"{max(qubits)} qubits is beyond a dense statevector on one machine "
                f"(max {self.MAX_QUBITS})."
            )
        check_int("draws", self.draws, minimum=4, maximum=MAX_DRAWS)
        check_seed("seed", self.seed)
        check_int("param", self.param)
        if self.layers is not None:
            check_int("layers", self.layers, minimum=1, maximum=MAX_SCAN_LAYERS)
        if self.ansatz in TOY_MODELS and self.layers not in (None, 1):
            raise ValueError(f"the {self.ansatz} ansatz has exactly one layer; drop --layers.")
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {list(BLOCKS)}, got {self.block!r}.")
        if self.ansatz in TOY_MODELS and self.block != "ry-cz":
            raise ValueError(f"the {self.ansatz} ansatz has no two-qubit blocks; drop --block.")
        if self.dtype not in ("complex64", "complex128"):
            raise ValueError(f"dtype must be 'complex64' or 'complex128', got {self.dtype!r}.")
        n_params = max(ansatz_n_params(self.ansatz, n, self.layers, self.block) for n in qubits)
        angle_bytes = self.draws * n_params * (4 if self.dtype == "complex64" else 8)
        if angle_bytes > MAX_ANGLE_BYTES:
            raise ValueError(
                f"{self.draws} draws of {n_params} angles need {angle_bytes / 2**30:.1f} GiB "
                f"(limit {MAX_ANGLE_BYTES / 2**30:.0f} GiB); use fewer draws or layers."
            )
        self.qubits = sorted(qubits)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


class EstimateSeries:
    """Shared accessors of a scan holding ``estimates`` (one :class:`VarianceEstimate` per ``n``)
    and ``fits``."""

    estimates: list[VarianceEstimate]
    fits: ScalingFits | None

    @property
    def qubits(self) -> list[int]:
        return [e.n_qubits for e in self.estimates]

    @property
    def variance(self) -> list[float]:
        return [e.variance for e in self.estimates]

    @property
    def stderr(self) -> list[float]:
        return [e.stderr for e in self.estimates]

    def series_dict(self) -> dict:
        """Per-``n`` columns (same order as ``qubits``) plus the fits and their verdict."""
        return {
            "qubits": self.qubits,
            "variance": self.variance,
            "stderr": self.stderr,
            "mean": [e.mean for e in self.estimates],
            "mean_stderr": [e.mean_stderr for e in self.estimates],
            "kurtosis": [e.kurtosis for e in self.estimates],
            "n_params": [e.n_params for e in self.estimates],
            "seconds": [e.seconds for e in self.estimates],
            "fits": None if self.fits is None else self.fits.to_dict(),
            "verdict": None if self.fits is None else self.fits.summary(),
        }


@dataclass
class VarianceScan(EstimateSeries):
    config: VarianceScanConfig
    estimates: list[VarianceEstimate]
    fits: ScalingFits | None

    @property
    def label(self) -> str:
        cfg = self.config
        block = f", {cfg.block}" if cfg.block != "ry-cz" else ""
        return f"{cfg.ansatz} / {cfg.cost}" + (f" (L={cfg.layers}{block})" if cfg.layers else block)

    def theory(self) -> list[float] | None:
        if self.config.ansatz not in TOY_MODELS:
            return None
        return [TOY_THEORY[self.config.cost](n) for n in self.qubits]

    def theory_curve(self, grid) -> tuple[list[float], str] | None:
        """The closed form on ``grid`` with its label, for the toy models (else None)."""
        if self.config.ansatz not in TOY_MODELS:
            return None
        formula = "(1/8)(3/8)^(n-1)" if self.config.cost == "global" else "1/(8n^2)"
        return [TOY_THEORY[self.config.cost](x) for x in grid], f"theory {formula}"

    def to_dict(self) -> dict:
        out = self.series_dict()
        theory = self.theory()
        if theory is not None:
            out["theory"] = {
                "formula": "(1/8)(3/8)^(n-1)" if self.config.cost == "global" else "1/(8 n^2)",
                "variance": theory,
                "z_scores": [
                    (v - t) / s if s > 0 else None
                    for v, t, s in zip(self.variance, theory, self.stderr, strict=True)
                ],
            }
        return out


def checkpointed_estimates(
    config, compute: Callable[[int], VarianceEstimate], checkpoint_dir, desc: str, progress: bool
) -> list[VarianceEstimate]:
    """``compute(n)`` for every ``n`` in ``config.qubits``, each saved under ``checkpoint_dir``
    (keyed by the config's fingerprint) as soon as it is done; saved ones are loaded instead."""
    checkpoint = (
        None if checkpoint_dir is None else TaskCheckpoint(checkpoint_dir, config.to_dict())
    )
    estimates = []
    bar = tqdm(config.qubits, desc=desc, disable=not progress)
    for n in bar:
        bar.set_postfix(n=n)
        record = checkpoint.load(f"n{n}") if checkpoint else None
        if record is None:
            estimate = compute(n)
            if checkpoint:
                checkpoint.save(f"n{n}", asdict(estimate))
        else:
            estimate = VarianceEstimate(**record)
        estimates.append(estimate)
    return estimates


def variance_scan(
    config: VarianceScanConfig | None = None,
    *,
    progress: bool = True,
    checkpoint_dir=None,
    **overrides,
) -> VarianceScan:
    """Run a gradient-variance scan over qubit counts.

    Args:
        config: a :class:`VarianceScanConfig`; keyword ``overrides`` set or replace its fields
            (``variance_scan(ansatz="hea", cost="local", qubits=range(2, 13))``).
        progress: show a progress bar over qubit counts.
        checkpoint_dir: folder for per-``n`` checkpoints; a rerun of the same config resumes.

    Returns:
        :class:`VarianceScan` with per-``n`` estimates and the scaling fits (when >= 3 points).
    """
    config = VarianceScanConfig(**{**(asdict(config) if config else {}), **overrides})
    config.qubits = list(config.qubits)
    config.validate()

    def compute(n: int) -> VarianceEstimate:
        circuit = build_ansatz(config.ansatz, n, config.layers, config.block)
        cost = build_cost(config.cost, circuit.alive_qubits)
        estimate = estimate_gradient_variance(
            circuit,
            cost,
            draws=config.draws,
            seed=config.seed,
            param_index=config.param,
            dtype=config.dtype,
        )
        # a DQNN circuit holds more qubits than the model size n it is indexed by
        return replace(estimate, n_qubits=n)

    desc = f"variance {config.ansatz}/{config.cost}"
    estimates = checkpointed_estimates(config, compute, checkpoint_dir, desc, progress)
    fits = None
    if len(estimates) >= 3:
        fits = fit_scaling(
            [e.n_qubits for e in estimates],
            [e.variance for e in estimates],
            [e.stderr for e in estimates],
        )
    return VarianceScan(config, estimates, fits)


#: Most qubit counts :func:`parse_qubits` returns when no ``maximum`` is given.
MAX_LISTED = 1024


def parse_qubits(text: str | Iterable[int], *, maximum: int | None = None) -> list[int]:
    """Read ``"2,4,8"``, ``"2..12"`` or ``"2..12:2"`` (inclusive ranges, optional step).

    With ``maximum``, a count above it is refused (``ValueError`` naming the limit) before any
    list is built, so ``"2..1000000000"`` costs nothing. Ranges hold at most ``maximum`` (or
    ``MAX_LISTED``) counts either way.
    """
    if not isinstance(text, str):
        return [int(q) for q in text]
    limit = MAX_LISTED if maximum is None else maximum
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ".." in part:
                lo, _, rest = part.partition("..")
                hi, _, step = rest.partition(":")
                counts = range(int(lo), int(hi) + 1, int(step) if step else 1)
            else:
                counts = range(int(part), int(part) + 1)
        except ValueError as err:
            raise ValueError(
                f"cannot read qubit counts {text!r}: use a list '2,4,8' or a range '2..12' "
                "(optionally '2..12:2')."
            ) from err
        if counts and max(counts[0], counts[-1]) > limit:
            raise ValueError(
                f"qubit count {max(counts[0], counts[-1])} in {text!r} is above the limit "
                f"{limit} of this scan."
            )
        if len(out) + len(counts) > limit:
            raise ValueError(f"{text!r} lists more than {limit} qubit counts.")
        out.extend(counts)
    if not out:
        raise ValueError(f"no qubit counts in {text!r}.")
    return out
