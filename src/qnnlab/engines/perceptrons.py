"""Layer-by-layer DQNN engine for perceptrons given as unitary matrices (Beer et al. 2020).

Register of layer ``l``: the ``m = n_{l-1}`` input qubits then the ``n = n_l`` output qubits,
each perceptron embedded as a dense register matrix (DQNNs in this style are small, a few qubits
per layer, where dense batched products beat tensor contractions). Every positive operator is
kept as a *factor* ``F`` with ``rho = F F^dag`` (``B`` pairs, ``(B, d, r)``): a pure input is one
column, and a layer costs ``O(4**(m+n) r)`` per perceptron instead of ``O(8**(m+n))``. Tracing
out a layer moves its index into the columns; factors are compressed to at most ``d`` columns.
With ``U^l = V^l_last ... V^l_1`` (each ``V`` embedded on its perceptron's qubits):

* forward channel (Eq. 1):   ``rho_l = Tr_{l-1}[U^l (rho_{l-1} (x) |0><0|_l) U^l^dag]``;
* adjoint channel:           ``sigma_{l-1} = <0|_l U^l^dag (1_{l-1} (x) sigma_l) U^l |0>_l``,

so ``Tr[sigma_L rho_L] = Tr[sigma_l rho_l]`` for every ``l``: the target operator ``sigma_L`` of
the output layer, propagated back, scores any intermediate layer. Memory follows two adjacent
layers, ``4**(n_{l-1} + n_l)`` per pair.

Perceptron unitaries are stored per layer as a list of ``(2**q, 2**q)`` complex arrays, ``q`` =
inputs + outputs of the perceptron, its qubits ordered inputs first then outputs (big-endian:
the first listed qubit is the most significant).

The engine needs only the wiring, given structurally (:class:`PerceptronNetwork`: layer widths
and, per layer, each perceptron's input and output nodes); it never imports a model.
:class:`qnnlab.models.dqnn.DQNNArchitecture` is one such wiring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.haar import as_generator, haar_unitary


@runtime_checkable
class PerceptronWiring(Protocol):
    """One perceptron of layer ``l``: its nodes in layer ``l-1`` (``inputs``) and ``l``
    (``outputs``), 0-based within each layer."""

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@runtime_checkable
class PerceptronNetwork(Protocol):
    """A DQNN's wiring: ``widths = (n_0, ..., n_L)`` and, per layer ``l = 1..L``, its
    perceptrons in the order they act."""

    widths: tuple[int, ...]
    layers: Sequence[Sequence[PerceptronWiring]]


def perceptron_qubits(p: PerceptronWiring) -> int:
    """Qubits a perceptron acts on: its inputs plus its outputs."""
    return len(p.inputs) + len(p.outputs)


def perceptron_axes(p: PerceptronWiring, n_prev: int) -> list[int]:
    """Register positions (0-based, inputs then outputs) of a perceptron's qubits."""
    return list(p.inputs) + [n_prev + o for o in p.outputs]


def haar_perceptrons(architecture: PerceptronNetwork, seed) -> list[list[np.ndarray]]:
    """Haar-random unitaries for every perceptron (Beer et al.'s initialisation), complex128."""
    rng = as_generator(seed)
    return [
        [haar_unitary(2 ** perceptron_qubits(p), rng) for p in layer]
        for layer in architecture.layers
    ]


def check_perceptron_unitaries(architecture: PerceptronNetwork, unitaries) -> None:
    """Raise ``ValueError`` naming the perceptron whose matrix has the wrong shape."""
    n_layers = len(architecture.layers)
    if len(unitaries) != n_layers:
        raise ValueError(f"expected unitaries for {n_layers} layers, got {len(unitaries)}.")
    for l_index, (layer, mats) in enumerate(zip(architecture.layers, unitaries, strict=True), 1):
        if len(mats) != len(layer):
            raise ValueError(
                f"layer {l_index} has {len(layer)} perceptrons but {len(mats)} unitaries were "
                "given."
            )
        for j, (p, u) in enumerate(zip(layer, mats, strict=True)):
            d = 2 ** perceptron_qubits(p)
            if tuple(np.shape(u)) != (d, d):
                raise ValueError(
                    f"perceptron {j} of layer {l_index} acts on {perceptron_qubits(p)} qubits "
                    "and needs "
                    f"a {d}x{d} unitary, got shape {tuple(np.shape(u))}."
                )
            u = np.asarray(u)
            if not np.allclose(u.conj().T @ u, np.eye(d), atol=1e-6):
                raise ValueError(
                    f"perceptron {j} of layer {l_index} is not unitary (U^dag U != 1); start "
                    "from haar_perceptrons(...) or orthonormalise it."
                )


def qubit_permutation(axes: list[int], q: int) -> np.ndarray:
    """``pi[i]``: index of natural basis state ``i`` once qubits ``axes`` are moved to the front.

    For a matrix ``K`` written with the qubits ordered ``axes + rest``, the natural-order matrix
    is ``K[pi][:, pi]``; conversely ``C[inv][:, inv]`` puts ``axes`` first (``inv = argsort(pi)``).
    """
    rest = [i for i in range(q) if i not in axes]
    order = list(axes) + rest
    bits = (np.arange(2**q)[:, None] >> (q - 1 - np.arange(q))[None, :]) & 1
    permuted = bits[:, order]
    return (permuted * (1 << (q - 1 - np.arange(q)))[None, :]).sum(axis=1)


def embed(u, axes: list[int], q: int):
    """The perceptron ``u`` (on register positions ``axes``) as a ``2**q x 2**q`` matrix."""
    pi = qubit_permutation(axes, q)
    full = jnp.kron(u, jnp.eye(2 ** (q - len(axes)), dtype=u.dtype))
    return full[pi][:, pi]


def psd_factor(operators):
    """``F`` with ``F F^dag = O`` for a batch of positive semidefinite ``(B, d, d)`` operators
    (``F = V sqrt(w)`` from ``O = V diag(w) V^dag``; tiny negative eigenvalues are clipped)."""
    operators = 0.5 * (operators + jnp.conj(jnp.swapaxes(operators, 1, 2)))
    w, v = jnp.linalg.eigh(operators)
    return v * jnp.sqrt(jnp.clip(w, 0.0, None))[:, None, :].astype(v.dtype)


def compress(factor):
    """Same ``F F^dag`` with at most ``d`` columns (a factor with more columns than rows is
    replaced by the square root of ``F F^dag``); shapes are static, so this is jit-friendly."""
    d, r = factor.shape[1], factor.shape[2]
    if r <= d:
        return factor
    return psd_factor(factor @ jnp.conj(jnp.swapaxes(factor, 1, 2)))


def gram(factor):
    """``F F^dag``."""
    return factor @ jnp.conj(jnp.swapaxes(factor, 1, 2))


def with_fresh_outputs(factor, n: int):
    """Factor of ``rho (x) |0..0><0..0|_n``: rows ``(input, output)``, output index 0 only."""
    batch, dm, r = factor.shape
    out = jnp.zeros((batch, dm, 2**n, r), factor.dtype).at[:, :, 0, :].set(factor)
    return out.reshape(batch, dm * 2**n, r)


def trace_inputs(factor, m: int, n: int):
    """Factor of ``Tr_{l-1}[X X^dag]``: the input index joins the columns (then compressed)."""
    batch, _, r = factor.shape
    x = factor.reshape(batch, 2**m, 2**n, r)
    return compress(jnp.transpose(x, (0, 2, 1, 3)).reshape(batch, 2**n, 2**m * r))


def identity_times(factor, m: int):
    """Factor of ``1_{l-1} (x) sigma``: ``(B, 2**(m+n), 2**m c)``."""
    batch, dn, c = factor.shape
    eye = jnp.eye(2**m, dtype=factor.dtype)
    full = jnp.einsum("ab,xik->xaibk", eye, factor)
    return full.reshape(batch, 2**m * dn, 2**m * c)


def project_outputs_on_zero(factor, m: int, n: int):
    """Factor of ``<0|_l Z Z^dag |0>_l``: rows with every output bit 0 (then compressed)."""
    batch, _, c = factor.shape
    return compress(factor.reshape(batch, 2**m, 2**n, c)[:, :, 0, :])


def layer_matrices(layer: Sequence[PerceptronWiring], layer_unitaries, m: int, n: int):
    """Every perceptron of a layer embedded in the ``(m + n)``-qubit register."""
    return [
        embed(u, perceptron_axes(p, m), m + n) for p, u in zip(layer, layer_unitaries, strict=True)
    ]


def forward_steps(factor, embedded, n: int) -> list:
    """Register factors after each perceptron of a layer (``embedded`` from
    :func:`layer_matrices`), starting from a factor of ``rho_{l-1}``."""
    x = with_fresh_outputs(factor, n)
    steps = []
    for e in embedded:
        x = e @ x
        steps.append(x)
    return steps


def adjoint_through(factor, embedded, m: int, n: int):
    """Factor of ``sigma_{l-1}`` from a factor of ``sigma_l`` through embedded perceptrons."""
    z = identity_times(factor, m)
    for e in reversed(embedded):
        z = jnp.conj(e).T @ z
    return project_outputs_on_zero(z, m, n)


def layer_forward(factor, layer_unitaries, layer: Sequence[PerceptronWiring], m: int, n: int):
    """Factor of ``rho_l`` from a factor of ``rho_{l-1}`` (Eq. 1)."""
    steps = forward_steps(factor, layer_matrices(layer, layer_unitaries, m, n), n)
    return trace_inputs(steps[-1], m, n)


def layer_adjoint(factor, layer_unitaries, layer: Sequence[PerceptronWiring], m: int, n: int):
    """Factor of ``sigma_{l-1}`` from a factor of ``sigma_l`` (the adjoint channel)."""
    return adjoint_through(factor, layer_matrices(layer, layer_unitaries, m, n), m, n)


def network_forward(architecture: PerceptronNetwork, unitaries, factor_in):
    """Factors ``[W_0, W_1, ..., W_L]`` of ``rho_l = W_l W_l^dag`` for a batch of input factors
    ``(B, 2**n_0, r)`` (pure inputs: ``r = 1``, the state vector as a column)."""
    states = [factor_in]
    w = architecture.widths
    for l_index, (layer, mats) in enumerate(zip(architecture.layers, unitaries, strict=True), 1):
        states.append(layer_forward(states[-1], mats, layer, w[l_index - 1], w[l_index]))
    return states


def network_output(architecture: PerceptronNetwork, unitaries, rho_in):
    """``rho_out`` ``(B, 2**n_L, 2**n_L)`` for input density matrices ``(B, d, d)`` or state
    vectors ``(B, d)``."""
    rho_in = jnp.asarray(rho_in)
    d = 2 ** architecture.widths[0]
    if rho_in.shape[1:] not in ((d,), (d, d)):
        raise ValueError(
            f"inputs must be a batch of state vectors (B, {d}) or density matrices "
            f"(B, {d}, {d}); got shape {rho_in.shape} (add a batch axis for a single input)."
        )
    if rho_in.ndim == 2 and not np.allclose(np.linalg.norm(np.asarray(rho_in), axis=1), 1.0):
        raise ValueError(
            "inputs read as a batch of state vectors are not normalised; a single density "
            "matrix needs a batch axis: rho[None]."
        )
    factor = rho_in[:, :, None] if rho_in.ndim == 2 else psd_factor(rho_in)
    return gram(network_forward(architecture, unitaries, factor)[-1])


def factor_score(target_factor, output_factor):
    """``Tr[sigma_x rho_x] = ||S_x^dag W_x||_F^2`` per pair, for factors of both."""
    overlap = jnp.conj(jnp.swapaxes(target_factor, 1, 2)) @ output_factor
    return jnp.sum(jnp.abs(overlap) ** 2, axis=(1, 2))


def expectation(operators, rho):
    """``Re Tr[O_x rho_x]`` per pair for batched ``(B, d, d)`` operators and states."""
    return jnp.real(jnp.einsum("xij,xji->x", operators, rho))
