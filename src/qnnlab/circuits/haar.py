"""Haar-random unitaries, isometries and states (Mezzadri, Notices AMS 54, 592 (2007)).

A ``d x r`` matrix ``G`` of i.i.d. standard complex Gaussians has QR factors ``G = Q R``; with the
phases of ``diag(R)`` moved into ``Q`` (so that ``R`` has a positive diagonal), ``Q`` is
distributed by the Haar measure on isometries ``C^r -> C^d`` (on ``U(d)`` when ``r = d``).
Without that phase fix ``Q`` is *not* Haar distributed.

A Haar unitary ``V`` restricted to an ``r``-dimensional subspace with orthonormal basis ``B`` is
the Haar isometry ``V B``: so applying a Haar-random ``V`` to ``r`` vectors only needs a ``d x r``
isometry, ``O(d r^2)`` work instead of the ``O(d^3)`` of a full ``U(d)`` sample.
"""

from __future__ import annotations

import numpy as np


def as_generator(seed) -> np.random.Generator:
    """A NumPy generator from a seed, a ``SeedSequence`` or an existing generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def haar_isometry(dim: int, rank: int, rng) -> np.ndarray:
    """A Haar-random ``dim x rank`` isometry (``rank <= dim``), complex128."""
    if not (1 <= rank <= dim):
        raise ValueError(f"an isometry needs 1 <= rank <= dim, got rank={rank}, dim={dim}.")
    rng = as_generator(rng)
    g = (rng.standard_normal((dim, rank)) + 1j * rng.standard_normal((dim, rank))) / np.sqrt(2)
    q, r = np.linalg.qr(g)
    d = np.diagonal(r)
    return q * (d / np.abs(d))[None, :]


def haar_unitary(dim: int, rng) -> np.ndarray:
    """A Haar-random ``dim x dim`` unitary, complex128."""
    return haar_isometry(dim, dim, rng)


def haar_state(dim: int, rng) -> np.ndarray:
    """A Haar-random unit vector in ``C^dim`` (the first column of a Haar unitary)."""
    rng = as_generator(rng)
    v = rng.standard_normal(dim) + 1j * rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def haar_states(count: int, dim: int, rng) -> np.ndarray:
    """``(count, dim)`` independent Haar-random unit vectors."""
    rng = as_generator(rng)
    return np.stack([haar_state(dim, rng) for _ in range(count)])
