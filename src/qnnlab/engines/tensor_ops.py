"""Array kernels shared by the dense engines: gate application and Pauli action on qubit tensors.

A register of ``m`` qubits is stored as a tensor with one axis of size 2 per qubit (big-endian:
axis order = qubit order), after any leading batch axes. Applying a ``k``-qubit matrix contracts
its input indices with the ``k`` qubit axes and puts its output indices back in their place.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np


def apply_matrix(tensor, matrix, axes: Sequence[int]):
    """Apply a ``2**k x 2**k`` matrix to the ``k`` tensor axes ``axes`` (in matrix qubit order).

    Computes ``out[..., a_1..a_k, ...] = sum_b M[a, b] tensor[..., b_1..b_k, ...]``.
    """
    k = len(axes)
    gate = matrix.reshape((2,) * (2 * k))
    out = jnp.tensordot(gate, tensor, axes=(list(range(k, 2 * k)), list(axes)))
    return jnp.moveaxis(out, list(range(k)), list(axes))


def pauli_apply(tensor, ops: Sequence[tuple[int, str]]):
    """``P tensor`` for a Pauli string given as ``(axis, letter)`` pairs (no matrices built).

    ``X`` flips the axis, ``Z`` multiplies by ``(+1, -1)`` along it, ``Y = i X Z``.
    """
    phase = 1
    for axis, letter in ops:
        if letter in ("Z", "Y"):
            shape = [1] * tensor.ndim
            shape[axis] = 2
            tensor = tensor * jnp.asarray([1, -1], dtype=tensor.dtype).reshape(shape)
        if letter in ("X", "Y"):
            tensor = jnp.flip(tensor, axis=axis)
        if letter == "Y":
            phase *= 1j
    return tensor if phase == 1 else tensor * jnp.asarray(phase, dtype=tensor.dtype)


def z_signs(n_axes: int, axes: Sequence[int], ndim: int, offset: int, dtype):
    """Broadcastable tensor of ``prod_{a in axes} (-1)^{b_a}`` for a diagonal ``Z...Z`` term."""
    sign = jnp.ones((1,) * ndim, dtype=dtype)
    for axis in axes:
        shape = [1] * ndim
        shape[offset + axis] = 2
        sign = sign * jnp.asarray([1, -1], dtype=dtype).reshape(shape)
    return sign


def basis_index(bits: Sequence[int]) -> int:
    """Integer index of a big-endian bit tuple."""
    return int(np.dot(bits, 2 ** np.arange(len(bits))[::-1])) if len(bits) else 0
