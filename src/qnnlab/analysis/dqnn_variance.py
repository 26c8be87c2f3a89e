"""Gradient statistics of DQNNs with Haar-random global perceptrons (Theorems 1 and 2 of Sharma
et al., PRL 128, 180505 (2022), arXiv:2005.12458).

**Theorem 1** (parametrized perceptrons, Eqs. 5-10). The differentiated perceptron is
``V = A R(theta) B`` with ``R = exp(-i theta Gamma / 2)`` and ``A``, ``B`` independent
Haar-random unitaries on its ``m + k`` qubits (deep perceptrons forming 2-designs); every other
perceptron is Haar-random too. Then ``theta`` can be absorbed into ``A`` and ``Gamma`` rotated
into any Pauli (``A -> A W``, ``B -> W^dag B`` leave the Haar measure unchanged), so the
partial derivative is sampled at ``theta = 0`` with ``Gamma = Z`` on the perceptron's first
output qubit:

    dC/dtheta = 2 Re Tr[O (d psi) psi^dag]  summed over pairs and the traced-out qubits,
    d psi = A (-i Gamma / 2) B (...),

forward-mode: the state and its tangent travel together through the network.

**Theorem 2** (parameter-matrix training, Eq. 13). Every perceptron is updated at once,
``V_j(s + eps) = exp(i eps H_j) V_j(s)``; ``dC/ds`` at ``s = 0`` is sampled with Haar-random
``V_j(0)``; after each perceptron the tangent gains ``i H_j V_j psi``. The update directions
``H_j`` (``Tr[H_j^2] = 2^{m+k}``, as in the theorem) are drawn independently of the ``V_j``: by
default a uniformly random non-identity Pauli string on each perceptron's qubits, fresh for every
draw. Unlike ``Gamma`` in Theorem 1, ``H_j`` sits *outside* ``V_j`` and the next perceptron
overlaps it only partly, so the distribution does depend on ``H_j`` (``Z`` on an output qubit
gives a larger variance than ``Z`` on an input one); random Pauli strings average over that.

Costs (pairs ``x = 1..N``, product targets ``|phi_x> = (x)_j |t_{x,j}>`` on the output layer):
global ``C_G = 1 - (1/N) sum_x <phi_x|rho_x|phi_x>`` (Eq. 3) and local
``C_L = 1 - (1/(N n_out)) sum_{x,j} <t_{x,j}|rho_{x,j}|t_{x,j}>`` (Eq. 4).

**Lazy Haar sampling.** The network acts on pure states; a Haar-random ``V`` on support ``S``
only ever meets the span of the vectors it is applied to. Writing the current columns (pairs,
state and tangent, other qubits, purifying environment) as ``X = Q R`` with ``Q`` an
orthonormal basis, ``V X = (V Q) R`` and ``V Q`` is a Haar-random isometry
(:func:`qnnlab.circuits.haar.haar_isometry`). This is an *exact* sample of the Haar ensemble at
``O(2^{|S|} K^2)`` cost for ``K`` columns, instead of ``O(8^{|S|})`` for a full unitary: a
13-qubit global perceptron on one column costs microseconds. Discarded layers are folded into
an environment index and compressed to the rank the remaining qubits can see.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from dataclasses import asdict, dataclass, field
from numbers import Integral

import numpy as np

from qnnlab.analysis.fits import ScalingFits, fit_scaling
from qnnlab.analysis.variance import (
    EstimateSeries,
    VarianceEstimate,
    checkpointed_estimates,
    sample_statistics,
)
from qnnlab.checks import check_int, check_seed
from qnnlab.circuits.haar import as_generator, haar_isometry, haar_states, haar_unitary
from qnnlab.models.dqnn import DQNNArchitecture, dqnn_architecture

_PAULI = {
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


class _Register:
    """Pure states of ``N`` pairs on the live qubits: ``value`` (and ``tangent``) are arrays of
    shape ``(2,)*len(live) + (N, E)`` with ``E`` the purifying environment."""

    def __init__(self, inputs: np.ndarray, n_in: int):
        n = inputs.shape[0]
        self.live = list(range(n_in))
        self.value = inputs.T.reshape((2,) * n_in + (n, 1)).astype(complex)
        self.tangent = None

    def arrays(self):
        return [self.value] if self.tangent is None else [self.value, self.tangent]

    def _store(self, arrays):
        self.value = arrays[0]
        self.tangent = arrays[1] if len(arrays) > 1 else None

    def ensure(self, qubits):
        """Tensor in ``|0>`` for qubits not yet alive (outputs not touched before)."""
        for q in qubits:
            if q not in self.live:
                zero = np.array([1.0, 0.0], dtype=complex)
                arrays = []
                for a in self.arrays():
                    k = len(self.live)
                    a = np.tensordot(a, zero, axes=0)  # new axis last
                    arrays.append(np.moveaxis(a, -1, k))
                self._store(arrays)
                self.live.append(q)

    def _front(self, a, qubits):
        pos = [self.live.index(q) for q in qubits]
        return np.moveaxis(a, pos, list(range(len(pos))))

    def _back(self, a, qubits):
        pos = [self.live.index(q) for q in qubits]
        return np.moveaxis(a, list(range(len(pos))), pos)

    def apply_haar(self, qubits, rng):
        """Apply one Haar-random unitary on ``qubits`` to every array (lazily, see module).

        ``rng`` may instead be a callable ``d -> (d, d) unitary``: that exact matrix is applied
        (for tests against dense references and full Haar sampling).
        """
        self.ensure(qubits)
        d = 2 ** len(qubits)
        fronts = [self._front(a, qubits) for a in self.arrays()]
        shapes = [f.shape for f in fronts]
        x = np.concatenate([f.reshape(d, -1) for f in fronts], axis=1)
        if callable(rng):
            y = rng(d) @ x
        elif x.shape[1] >= d:
            y = haar_unitary(d, rng) @ x
        else:
            q, r = np.linalg.qr(x)
            y = haar_isometry(d, q.shape[1], rng) @ r
        sizes = np.cumsum([math.prod(s[len(qubits) :]) for s in shapes])[:-1]
        parts = np.split(y, sizes, axis=1)
        self._store([self._back(p.reshape(s), qubits) for p, s in zip(parts, shapes, strict=True)])

    def pauli(self, qubit: int, letter: str, array):
        """``P_qubit`` applied to ``array``."""
        pos = self.live.index(qubit)
        out = np.tensordot(_PAULI[letter], array, axes=([1], [pos]))
        return np.moveaxis(out, 0, pos)

    def discard(self, qubits):
        """Fold ``qubits`` into the environment, then compress it per pair."""
        arrays = [self._front(a, qubits) for a in self.arrays()]
        self.live = [q for q in self.live if q not in qubits]
        k, d_keep = len(qubits), 2 ** len(self.live)
        out = []
        for a in arrays:
            n_pairs, env = a.shape[-2], a.shape[-1]
            a = a.reshape((2**k, d_keep, n_pairs, env))
            out.append(np.transpose(a, (1, 2, 0, 3)).reshape(d_keep, n_pairs, 2**k * env))
        # common environment basis of value and tangent, per pair: M = [V; T] (rows), V = (VQ)Q^H
        stacked = np.concatenate(out, axis=0)  # (rows, N, E')
        rows, env = stacked.shape[0], stacked.shape[2]
        if env > rows:
            mh = np.conj(np.transpose(stacked, (1, 2, 0)))  # (N, E', rows)
            q, _ = np.linalg.qr(mh)  # (N, E', rows)
            out = [np.einsum("dne,nek->dnk", a, q) for a in out]
        shape = (2,) * len(self.live)
        self._store([a.reshape(shape + a.shape[1:]) for a in out])


def _target_contraction(reg: _Register, output_qubits, targets, array, qubits):
    """Contract target bras ``<t_{x,j}|`` of ``qubits`` into ``array`` (per pair)."""
    out = array
    for q in sorted(qubits, key=reg.live.index, reverse=True):
        pos = reg.live.index(q)
        j = output_qubits.index(q)
        bra = np.conj(targets[:, j, :])  # (N, 2)
        out = np.moveaxis(out, pos, -1)  # (..., N, E, 2)
        out = np.einsum("...nek,nk->...ne", out, bra)
    return out


def cost_derivative(reg: _Register, output_qubits, targets, cost: str) -> float:
    """``dC/dtheta`` from the final value and tangent (module docstring)."""
    n_pairs = targets.shape[0]
    if cost == "global":
        a = _target_contraction(reg, output_qubits, targets, reg.value, output_qubits)
        b = _target_contraction(reg, output_qubits, targets, reg.tangent, output_qubits)
        return float(-2.0 / n_pairs * np.sum(np.real(b * np.conj(a))))
    total = 0.0
    for q in output_qubits:
        a = _target_contraction(reg, output_qubits, targets, reg.value, [q])
        b = _target_contraction(reg, output_qubits, targets, reg.tangent, [q])
        total += float(np.sum(np.real(b * np.conj(a))))
    return -2.0 / (n_pairs * len(output_qubits)) * total


def haar_gradient_sample(
    architecture: DQNNArchitecture,
    inputs: np.ndarray,
    targets: np.ndarray,
    cost: str,
    rng,
    *,
    mode: str = "theorem1",
    layer: int = 1,
    perceptron: int = 0,
    update_pauli=None,
) -> float:
    """One sample of ``dC/dtheta`` (``mode="theorem1"``) or ``dC/ds`` (``"theorem2"``).

    Args:
        inputs: ``(N, 2**n_0)`` input states.
        targets: ``(N, n_out, 2)`` single-qubit factors of the product targets.
        rng: a NumPy generator/seed (lazy Haar sampling) or a callable ``d -> unitary`` that
            supplies every matrix in order (for Theorem 1, ``B`` then ``A`` for the
            differentiated perceptron).
        layer, perceptron: which perceptron holds the differentiated rotation (Theorem 1).
        update_pauli: Theorem 2 only, ``qubits -> [(qubit, letter), ...]`` giving ``H_j``;
            default a random non-identity Pauli string drawn from ``rng``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if cost not in ("global", "local"):
        raise ValueError(f"cost must be 'global' or 'local', got {cost!r}.")
    if mode == "theorem1" and not (
        1 <= layer <= architecture.n_layers
        and 0 <= perceptron < len(architecture.layers[layer - 1])
    ):
        raise ValueError(
            f"there is no perceptron {perceptron} in layer {layer} of {list(architecture.widths)}."
        )
    if not callable(rng):
        rng = as_generator(rng)
    if mode == "theorem2" and update_pauli is None:
        if callable(rng):
            raise ValueError("with explicit unitaries, pass update_pauli for Theorem 2.")
        update_pauli = functools.partial(random_pauli_string, rng=rng)
    arch = architecture
    reg = _Register(inputs, arch.n_in)
    for l_index, perceptrons in enumerate(arch.layers, start=1):
        for j, p in enumerate(perceptrons):
            qubits = [arch.qubit(l_index - 1, i) for i in p.inputs]
            qubits += [arch.qubit(l_index, o) for o in p.outputs]
            out_q = arch.qubit(l_index, p.outputs[0])
            if mode == "theorem1" and (l_index, j) == (layer, perceptron):
                reg.apply_haar(qubits, rng)  # B
                reg.tangent = -0.5j * reg.pauli(out_q, "Z", reg.value)
                reg.apply_haar(qubits, rng)  # A
            elif mode == "theorem2":
                reg.apply_haar(qubits, rng)
                kick = reg.value
                for q, letter in update_pauli(qubits):
                    kick = reg.pauli(q, letter, kick)
                kick = 1j * kick
                reg.tangent = kick if reg.tangent is None else reg.tangent + kick
            else:
                reg.apply_haar(qubits, rng)
        reg.discard([arch.qubit(l_index - 1, i) for i in range(arch.widths[l_index - 1])])
    return cost_derivative(reg, list(arch.output_qubits()), targets, cost)


def random_pauli_string(qubits, rng) -> list[tuple[int, str]]:
    """A uniformly random non-identity Pauli string on ``qubits`` as ``[(qubit, letter)]``."""
    while True:
        letters = rng.integers(0, 4, size=len(qubits))
        if letters.any():
            return [(q, "XYZ"[k - 1]) for q, k in zip(qubits, letters, strict=True) if k]


def product_targets(n_pairs: int, n_out: int, rng) -> np.ndarray:
    """``(N, n_out, 2)`` Haar-random single-qubit target factors."""
    return haar_states(n_pairs * n_out, 2, rng).reshape(n_pairs, n_out, 2)


MODES = ("theorem1", "theorem2")
#: Largest array (complex128 amplitudes) a draw may need: 2^28, 4 GiB.
MAX_ENTRIES = 2**28
#: Widest layer: two adjacent layers hold ``2^(n_{l-1} + n_l) <= MAX_ENTRIES`` amplitudes.
MAX_WIDTH = MAX_ENTRIES.bit_length() - 2
#: Most hidden layers: each draw walks every perceptron of every layer in Python.
MAX_HIDDEN_LAYERS = 100
#: Most random draws per qubit count (one Python-level network pass each).
MAX_DRAWS = 10**6


def peak_entries(widths, pairs: int) -> int:
    """Amplitudes held at the widest point: ``2^(n_{l-1}+n_l)`` register entries times the
    purifying environment (value and tangent, ``pairs`` columns each). Discarding layer ``l-1``
    multiplies the environment by ``2^(n_{l-1})``, compressed to at most ``2 * 2^(n_l)``."""
    env, peak = 1, 0
    for a, b in itertools.pairwise(widths):
        peak = max(peak, 2 ** (a + b) * env * 2 * pairs)
        env = min(env * 2**a, 2 * 2**b)
    return peak


@dataclass
class DQNNVarianceConfig:
    """A scan of ``Var[dC]`` over ``n`` for ``[n] + hidden + [n_out]`` global-perceptron DQNNs.

    ``n_out = None`` means ``n`` (the square networks of Theorem 1); ``hidden`` lists hidden
    widths, each ``None`` also meaning ``n``.
    """

    #: Largest input width ``n`` (see :data:`MAX_WIDTH`).
    MAX_QUBITS = MAX_WIDTH

    mode: str = "theorem1"
    cost: str = "global"
    qubits: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    hidden: list[int | None] = field(default_factory=list)
    n_out: int | None = None
    pairs: int = 1
    draws: int = 1000
    seed: int = 0
    layer: int = 1
    perceptron: int = 0

    def widths(self, n: int) -> list[int]:
        hidden = [n if h is None else int(h) for h in self.hidden]
        return [n, *hidden, n if self.n_out is None else int(self.n_out)]

    def validate(self) -> DQNNVarianceConfig:
        """Check every setting from its value alone, before any state is drawn.

        Checked: known mode and cost; distinct qubit counts, ``n_out`` and hidden widths in
        ``1..MAX_WIDTH``; at most ``MAX_HIDDEN_LAYERS`` hidden layers; ``draws`` in
        ``4..MAX_DRAWS``; ``pairs >= 1``; ``seed`` in ``[0, 2**63 - 1]``; the peak array of a
        draw within ``MAX_ENTRIES``; the differentiated ``layer`` and ``perceptron`` exist.
        Returns ``self`` (with sorted ``qubits``) or raises ``ValueError`` naming the fix.
        """
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}.")
        if self.cost not in ("global", "local"):
            raise ValueError(f"cost must be 'global' or 'local', got {self.cost!r}.")
        qubits = list(self.qubits)
        if (
            not qubits
            or any(isinstance(q, bool) or not isinstance(q, Integral) or q < 1 for q in qubits)
            or len(set(qubits)) != len(qubits)
        ):
            raise ValueError(f"qubits must be distinct positive integers, got {self.qubits}.")
        qubits = [int(q) for q in qubits]
        if max(qubits) > MAX_WIDTH:
            raise ValueError(
                f"{max(qubits)} input qubits is beyond the Haar sampler (max {MAX_WIDTH}: two "
                f"adjacent layers hold 2^(n_in + n_out) <= 2^{MAX_ENTRIES.bit_length() - 1} "
                "amplitudes)."
            )
        check_int("draws", self.draws, minimum=4, maximum=MAX_DRAWS)
        check_int("pairs", self.pairs, minimum=1, maximum=MAX_ENTRIES)
        check_seed("seed", self.seed)
        if self.n_out is not None:
            check_int("n_out", self.n_out, minimum=1, maximum=MAX_WIDTH)
        if len(self.hidden) > MAX_HIDDEN_LAYERS:
            raise ValueError(
                f"{len(self.hidden)} hidden layers is more than {MAX_HIDDEN_LAYERS}; use fewer."
            )
        for h in self.hidden:
            if h is not None:
                check_int("hidden widths", h, minimum=1, maximum=MAX_WIDTH)
        for n in qubits:
            entries = peak_entries(self.widths(n), self.pairs)
            if entries > MAX_ENTRIES:
                raise ValueError(
                    f"{self.widths(n)} with {self.pairs} pair(s) needs arrays of ~{entries:.1e} "
                    f"amplitudes per draw (limit {MAX_ENTRIES:.1e}, about 4 GiB): use fewer qubits "
                    "or fewer/narrower hidden layers."
                )
        check_int("layer", self.layer)
        check_int("perceptron", self.perceptron)
        n_layers = len(self.hidden) + 1
        if not 1 <= self.layer <= n_layers:
            raise ValueError(f"layer must be between 1 and {n_layers}, got {self.layer}.")
        for n in qubits:
            width = self.widths(n)[self.layer]
            if not 0 <= self.perceptron < width:
                raise ValueError(
                    f"perceptron {self.perceptron} does not exist in layer {self.layer} of "
                    f"{self.widths(n)}: choose 0..{width - 1}."
                )
        self.qubits = sorted(qubits)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def estimate(config: DQNNVarianceConfig, n: int) -> VarianceEstimate:
    """``draws`` samples at ``n`` input qubits -> variance with its standard error."""
    start = time.perf_counter()
    arch = dqnn_architecture(config.widths(n))
    seq = np.random.SeedSequence([config.seed, n, {"global": 0, "local": 1}[config.cost]])
    data_rng, draw_rng = (as_generator(s) for s in seq.spawn(2))
    inputs = haar_states(config.pairs, 2**n, data_rng)
    targets = product_targets(config.pairs, arch.n_out, data_rng)
    samples = np.array(
        [
            haar_gradient_sample(
                arch,
                inputs,
                targets,
                config.cost,
                draw_rng,
                mode=config.mode,
                layer=config.layer,
                perceptron=config.perceptron,
            )
            for _ in range(config.draws)
        ]
    )
    var, se, mean, se_mean, kurt = sample_statistics(samples)
    n_params = sum(1 for _ in arch.perceptrons())
    return VarianceEstimate(
        n, n_params, config.draws, var, se, mean, se_mean, kurt, time.perf_counter() - start
    )


@dataclass
class DQNNVarianceScan(EstimateSeries):
    """Estimates per ``n`` with the theorem's reference rate and exponential/power-law fits;
    plots and writes like :class:`qnnlab.analysis.variance.VarianceScan`. Here each estimate's
    ``n_params`` is the number of (Haar-random) perceptrons."""

    config: DQNNVarianceConfig
    estimates: list[VarianceEstimate]
    fits: ScalingFits | None = None

    def __post_init__(self):
        if self.fits is None and len(self.estimates) >= 3:
            self.fits = fit_scaling(self.qubits, self.variance, self.stderr)

    @property
    def label(self) -> str:
        cfg = self.config
        widths = "[" + ", ".join(["n"] + ["n" if h is None else str(h) for h in cfg.hidden])
        widths += f", {'n' if cfg.n_out is None else cfg.n_out}]"
        what = "dC/dtheta (Thm 1)" if cfg.mode == "theorem1" else "dC/ds (Thm 2)"
        return f"Haar DQNN {widths} {what} / {cfg.cost}"

    @property
    def rate(self) -> float:
        """``4`` for the global cost of Theorem 1 (``O(2^-2n)``), else ``2`` (``O(2^-n)``)."""
        square = self.config.n_out is None
        return (
            4.0
            if (self.config.mode == "theorem1" and self.config.cost == "global" and square)
            else 2.0
        )

    def theory(self) -> None:
        return None

    def theory_curve(self, grid):
        """The theorem's rate ``c rate^-n`` anchored at the largest ``n`` (a bound's *rate*, not
        its constant)."""
        if not self.estimates:
            return None
        n_ref, v_ref = self.qubits[-1], self.variance[-1]
        label = "O(2^-2n)" if self.rate == 4.0 else "O(2^-n)"
        return [v_ref * self.rate ** (n_ref - x) for x in grid], f"{label} reference"

    def to_dict(self) -> dict:
        out = self.series_dict()
        out["reference"] = {
            "rate": self.rate,
            "values": self.theory_curve(self.qubits)[0] if self.estimates else [],
        }
        return out


def dqnn_variance_scan(
    config: DQNNVarianceConfig | None = None,
    *,
    progress: bool = True,
    checkpoint_dir=None,
    **overrides,
) -> DQNNVarianceScan:
    """Run a Theorem 1 / Theorem 2 scan over ``config.qubits`` (checkpointed per ``n``)."""
    config = DQNNVarianceConfig(**{**(asdict(config) if config else {}), **overrides})
    config.qubits = list(config.qubits)
    config.validate()
    desc = f"dqnn {config.mode}/{config.cost}"
    estimates = checkpointed_estimates(
        config, lambda n: estimate(config, n), checkpoint_dir, desc, progress
    )
    return DQNNVarianceScan(config, estimates)
