"""Parameter-matrix training of DQNNs (Beer et al., Nat. Commun. 11, 808 (2020); Eq. (13) of
Sharma et al., PRL 128, 180505 (2022)).

Every perceptron is a unitary matrix, updated all at once each round:

    V^l_j  <-  exp(i eps K^l_j) V^l_j,
    K^l_j  =  (2^{m_j} i / (lambda N)) sum_x Tr_rest[ A^l_{j,x}, B^l_{j,x} ],

with ``m_j`` the perceptron's number of inputs, ``lambda`` the inverse learning rate, and, on the
register of layers ``(l-1, l)``,

* ``A^l_{j,x} = V^l_j .. V^l_1 (rho^{l-1}_x (x) |0><0|_l) V^l_1^dag .. V^l_j^dag``: the pair's
  state propagated *forward* through the network up to and including perceptron ``j``;
* ``B^l_{j,x} = V^l_{j+1}^dag .. V^l_last^dag (1 (x) sigma^l_x) V^l_last .. V^l_{j+1}``, where
  ``sigma^l_x`` is the target operator ``sigma^L_x`` propagated *backward* by the adjoint
  channels of layers ``L .. l+1`` (:func:`qnnlab.engines.perceptrons.layer_adjoint`);
* ``Tr_rest`` traces out every qubit of the register except the perceptron's own.

All ``K`` are computed from the same pre-update network, then applied. The score maximised is
``F = (1/N) sum_x Tr[sigma^L_x rho^L_x]``: the mean fidelity ``<phi_x|rho_x|phi_x>`` for
``sigma = |phi_x><phi_x|`` (Beer et al.'s "cost", ``1 - C`` for the global cost of Eq. 3),
``1 - C_L`` for the local operator of Eq. (4), or a label projector for supervised data.

Why this is gradient ascent: with ``F_x = Tr[B_{j,x} A_{j,x}]`` and ``V_j -> e^{T} V_j``
(``T`` anti-Hermitian on the perceptron), ``dF/dT = (1/N) Tr[T M_j]`` with
``M_j = sum_x Tr_rest[A, B]`` (anti-Hermitian). The update is ``T = -(eps 2^m / (lambda N)) M_j``,
so ``dF/d eps = (2^m / (lambda N^2)) ||M_j||_2^2 >= 0`` summed over perceptrons. Tests check this
derivative and the update against finite differences.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from qnnlab.engines.perceptrons import (
    adjoint_through,
    check_perceptron_unitaries,
    factor_score,
    forward_steps,
    gram,
    layer_matrices,
    network_forward,
    perceptron_axes,
    psd_factor,
    qubit_permutation,
    trace_inputs,
)
from qnnlab.engines.validation import resolve_dtype
from qnnlab.models.dqnn import DQNNArchitecture
from qnnlab.runtime.caches import default_compilation_cache


def partial_commutator(x, y, axes, q: int):
    """``sum_x Tr_rest[A_x, B_x]`` for ``A = X X^dag`` and ``Y = B X`` (``B`` Hermitian),
    keeping register positions ``axes`` in that order: ``A B = X Y^dag`` and ``B A = (A B)^dag``,
    so the result is ``T - T^dag`` with ``T = sum_x Tr_rest[X_x Y_x^dag]``."""
    inv = np.argsort(qubit_permutation(axes, q))
    ds, dr = 2 ** len(axes), 2 ** (q - len(axes))
    batch, r = x.shape[0], x.shape[2]
    xt = x[:, inv].reshape(batch, ds, dr, r)
    yt = y[:, inv].reshape(batch, ds, dr, r)
    t = jnp.einsum("xark,xbrk->ab", xt, jnp.conj(yt))
    return t - jnp.conj(t).T


def perceptron_commutators(architecture: DQNNArchitecture, unitaries, w_in, s_out):
    """``(M, scores)``: ``M^l_j = sum_x Tr_rest[A^l_{j,x}, B^l_{j,x}]`` for every perceptron
    (module docstring) and ``Tr[sigma_x rho_x]`` per pair from the same forward pass; states and
    targets are given as factors (:mod:`qnnlab.engines.perceptrons`).

    ``B_j X_j = V_{j+1}^dag .. V_last^dag (1 (x) sigma_l) X_last``, so one backward sweep of the
    forward factor's width (one column per pure state) gives every ``B_j X_j`` of a layer, as in
    reverse-mode differentiation; the full adjoint channel is swept only to get ``sigma_{l-1}``.
    """
    w = architecture.widths
    embedded_layers, steps, state = [], [], w_in
    for l_index, (layer, mats) in enumerate(zip(architecture.layers, unitaries, strict=True), 1):
        m, n = w[l_index - 1], w[l_index]
        embedded_layers.append(layer_matrices(layer, mats, m, n))
        steps.append(forward_steps(state, embedded_layers[-1], n))
        state = trace_inputs(steps[-1][-1], m, n)
    z_factor = s_out
    out = [None] * architecture.n_layers
    for l_index in range(architecture.n_layers, 0, -1):
        layer = architecture.layers[l_index - 1]
        m, n = w[l_index - 1], w[l_index]
        q = m + n
        embedded, xs = embedded_layers[l_index - 1], steps[l_index - 1]
        x = xs[-1]
        sigma = gram(z_factor)
        batch, r = x.shape[0], x.shape[2]
        y = jnp.einsum("xij,xajk->xaik", sigma, x.reshape(batch, 2**m, 2**n, r))
        y = y.reshape(batch, 2**q, r)
        ys = [None] * len(layer)
        for j in range(len(layer) - 1, -1, -1):
            ys[j] = y
            y = jnp.conj(embedded[j]).T @ y
        out[l_index - 1] = [
            partial_commutator(xj, yj, perceptron_axes(p, m), q)
            for xj, yj, p in zip(xs, ys, layer, strict=True)
        ]
        if l_index > 1:
            z_factor = adjoint_through(z_factor, embedded, m, n)
    return out, factor_score(s_out, state)


def update_generators(architecture, unitaries, w_in, s_out, lam: float):
    """``(K, scores)``: the Hermitian ``K^l_j`` of Eq. (13) (module docstring) and the per-pair
    scores of the forward pass they came from."""
    n_pairs = w_in.shape[0]
    commutators, scores = perceptron_commutators(architecture, unitaries, w_in, s_out)
    ks = [
        [(2 ** len(p.inputs)) * 1j / (lam * n_pairs) * mj for p, mj in zip(layer, ms, strict=True)]
        for layer, ms in zip(architecture.layers, commutators, strict=True)
    ]
    return ks, scores


def exp_i_hermitian(k, eps):
    """``exp(i eps K)`` for Hermitian ``K`` via its eigendecomposition (exactly unitary)."""
    k = 0.5 * (k + jnp.conj(k).T)
    w, v = jnp.linalg.eigh(k)
    return (v * jnp.exp(1j * eps * w)[None, :]) @ jnp.conj(v).T


def parameter_matrix_step(architecture, unitaries, w_in, s_out, eps: float, lam: float):
    """One round: every ``V^l_j <- exp(i eps K^l_j) V^l_j``; returns ``(new unitaries, F)`` with
    ``F`` the mean score of the network *before* the update (inputs and targets as factors)."""
    ks, scores = update_generators(architecture, unitaries, w_in, s_out, lam)
    new = [
        [exp_i_hermitian(k, eps).astype(u.dtype) @ u for k, u in zip(kl, ul, strict=True)]
        for kl, ul in zip(ks, unitaries, strict=True)
    ]
    return new, jnp.mean(scores)


def mean_score(architecture, unitaries, w_in, s_out):
    """``F = (1/N) sum_x Tr[sigma_x rho_out_x]`` (inputs and targets as factors)."""
    return jnp.mean(factor_score(s_out, network_forward(architecture, unitaries, w_in)[-1]))


def as_factor_batch(states, dim: int, dtype, what: str, unit_trace: bool = False):
    """``(N, d)`` vectors or ``(N, d, d)`` positive operators -> factors ``(N, d, r)``.

    Raises:
        ValueError: wrong shape, or an operator that is not positive semidefinite (a score
            ``Tr[sigma rho]`` is only a fidelity-like quantity for positive ``sigma``).
    """
    arr = np.asarray(states)
    if arr.ndim == 2 and arr.shape[1] == dim:
        norms = np.linalg.norm(arr, axis=1)
        if not np.allclose(norms, 1.0, atol=1e-6):
            raise ValueError(f"{what} state vectors must be normalised; norms {norms[:5]}...")
        return jnp.asarray(arr[:, :, None], dtype)
    if arr.ndim == 3 and arr.shape[1:] == (dim, dim):
        herm = 0.5 * (arr + np.conj(np.swapaxes(arr, 1, 2)))
        if not np.allclose(herm, arr, atol=1e-8):
            raise ValueError(f"{what} operators must be Hermitian.")
        if unit_trace:
            traces = np.real(np.trace(herm, axis1=1, axis2=2))
            if not np.allclose(traces, 1.0, atol=1e-6):
                raise ValueError(f"{what} density matrices must have trace 1; traces {traces[:5]}.")
        lowest = np.linalg.eigvalsh(herm).min()
        if lowest < -1e-8:
            raise ValueError(
                f"{what} operators must be positive semidefinite (lowest eigenvalue "
                f"{lowest:.3g}); use projectors, e.g. |phi><phi| or (1 + y Z)/2 for labels."
            )
        return psd_factor(jnp.asarray(herm, dtype))
    raise ValueError(
        f"{what} must be state vectors of shape (N, {dim}) or operators of shape "
        f"(N, {dim}, {dim}); got shape {arr.shape}."
    )


def training_pairs(inputs, targets, test_inputs, test_targets, dims, dtype):
    """Validated factors ``(rho, sigma, (rho_test, sigma_test) or None)`` of training (and
    optional test) pairs: inputs are states or unit-trace density matrices of dimension
    ``dims[0]``, targets states or positive operators of dimension ``dims[1]``."""
    d_in, d_out = dims
    rho = as_factor_batch(inputs, d_in, dtype, "inputs", unit_trace=True)
    sigma = as_factor_batch(targets, d_out, dtype, "targets")
    if rho.shape[0] != sigma.shape[0]:
        raise ValueError(f"{rho.shape[0]} inputs but {sigma.shape[0]} targets: pair them up.")
    if (test_inputs is None) != (test_targets is None):
        raise ValueError("give both test_inputs and test_targets, or neither.")
    if test_inputs is None:
        return rho, sigma, None
    rho_t = as_factor_batch(test_inputs, d_in, dtype, "test_inputs", unit_trace=True)
    sigma_t = as_factor_batch(test_targets, d_out, dtype, "test_targets")
    if rho_t.shape[0] != sigma_t.shape[0]:
        raise ValueError(
            f"{rho_t.shape[0]} test inputs but {sigma_t.shape[0]} test targets: pair them up."
        )
    return rho, sigma, (rho_t, sigma_t)


@functools.lru_cache(maxsize=32)
def _compiled_segment(architecture: DQNNArchitecture, eps: float, lam: float, chunk: int, has_test):
    """One jitted ``segment(params, rho, sigma, rho_t, sigma_t, length)`` per network and
    hyperparameters: ``length <= chunk`` rounds (traced, so one compilation serves every
    segment, and repeated fits of the same network and data shapes reuse it)."""

    def body(i, carry, rho, sigma, rho_t, sigma_t):
        params, train_buf, test_buf = carry
        new, score = parameter_matrix_step(architecture, params, rho, sigma, eps, lam)
        test = mean_score(architecture, params, rho_t, sigma_t) if has_test else score
        return new, train_buf.at[i].set(score), test_buf.at[i].set(test)

    @jax.jit
    def segment(params, rho, sigma, rho_t, sigma_t, length):
        buf = jnp.zeros(chunk, rho.real.dtype)
        step = functools.partial(body, rho=rho, sigma=sigma, rho_t=rho_t, sigma_t=sigma_t)
        return jax.lax.fori_loop(0, length, step, (params, buf, buf))

    return segment


@dataclass
class ParameterMatrixResult:
    """Outcome of :func:`train_parameter_matrix`: per-round scores include round 0."""

    unitaries: list
    train_score: np.ndarray
    test_score: np.ndarray | None
    seconds: float
    compile_seconds: float
    config: dict = field(default_factory=dict)

    def rounds_to(self, threshold: float) -> int | None:
        """First round whose training score exceeds ``threshold`` (None if never)."""
        hits = np.nonzero(self.train_score > threshold)[0]
        return int(hits[0]) if hits.size else None


def train_parameter_matrix(
    architecture: DQNNArchitecture,
    unitaries,
    inputs,
    targets,
    *,
    eps: float = 0.1,
    lam: float = 1.0,
    rounds: int = 500,
    test_inputs=None,
    test_targets=None,
    dtype: str = "complex128",
    chunk: int = 100,
    progress: bool = False,
) -> ParameterMatrixResult:
    """Train with Eq. (13) for ``rounds`` rounds, recording the score before every round and at
    the end (``rounds + 1`` values, as Beer et al. plot them).

    Args:
        architecture: the wiring.
        unitaries: initial perceptron unitaries (e.g.
            :func:`qnnlab.engines.perceptrons.haar_perceptrons`).
        inputs: ``(N, 2**n_0)`` input states or ``(N, d, d)`` density matrices.
        targets: ``(N, 2**n_L)`` target states (score = fidelity) or ``(N, d, d)`` target
            operators ``sigma_x`` (score = ``Tr[sigma_x rho_x]``).
        eps, lam: step ``epsilon`` and inverse learning rate ``lambda``.
        test_inputs, test_targets: optional held-out pairs, scored every round.
        chunk: rounds per compiled ``lax.scan`` segment (progress and checkpoints between).

    Returns:
        :class:`ParameterMatrixResult`; ``compile_seconds`` estimates the compilation time (the
        first segment's time beyond the steady rate; with ``rounds <= chunk`` there is no steady
        rate to compare with, and it is the whole first segment).
    """
    default_compilation_cache()
    if not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}.")
    if not (isinstance(rounds, int) and rounds >= 0):
        raise ValueError(f"rounds must be a non-negative integer, got {rounds!r}.")
    if not (eps > 0 and lam > 0):
        raise ValueError(f"eps and lam must be positive, got eps={eps}, lam={lam}.")
    check_perceptron_unitaries(architecture, unitaries)
    cdtype, _ = resolve_dtype(dtype)
    d_in, d_out = 2**architecture.n_in, 2**architecture.n_out
    rho, sigma, test = training_pairs(
        inputs, targets, test_inputs, test_targets, (d_in, d_out), cdtype
    )
    has_test = test is not None
    rho_t, sigma_t = test if has_test else (rho[:1], sigma[:1])
    params = [[jnp.asarray(u, cdtype) for u in layer] for layer in unitaries]

    segment = _compiled_segment(architecture, float(eps), float(lam), chunk, has_test)
    data = (rho, sigma, rho_t, sigma_t)

    train, test = [], []
    start = time.perf_counter()
    compile_seconds = 0.0
    done = 0
    bar = tqdm(total=rounds, desc="parameter-matrix rounds", disable=not progress)
    while done < rounds:
        length = min(chunk, rounds - done)
        t0 = time.perf_counter()
        params, s, t = segment(params, *data, length)
        s = np.asarray(s)[:length]
        if done == 0:
            compile_seconds = time.perf_counter() - t0
        train.append(s)
        test.append(np.asarray(t)[:length])
        done += length
        bar.update(length)
    bar.close()
    # the score of the final network: the "before" score of one more (discarded) round
    _, s_end, t_end = segment(params, *data, 1)
    train.append(np.asarray(s_end)[:1])
    test.append(np.asarray(t_end)[:1])
    seconds = time.perf_counter() - start
    # the first segment's time includes compilation: estimate it against the steady rate
    if rounds > chunk:
        steady = (seconds - compile_seconds) / max(rounds - chunk, 1)
        compile_seconds = max(compile_seconds - steady * min(chunk, rounds), 0.0)
    return ParameterMatrixResult(
        unitaries=[[np.asarray(u) for u in layer] for layer in params],
        train_score=np.concatenate(train),
        test_score=np.concatenate(test) if has_test else None,
        seconds=seconds,
        compile_seconds=compile_seconds,
        config={"eps": eps, "lam": lam, "rounds": rounds, "pairs": int(rho.shape[0])},
    )
