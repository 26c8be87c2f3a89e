"""Deterministic, stratified train / validation / test splits of sample indices."""

from __future__ import annotations

import numpy as np


def _check_fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}.")
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}.")
    return value


def train_val_test_split(
    n_samples: int, *, val: float = 0.2, test: float = 0.2, seed: int, stratify=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``range(n_samples)`` into disjoint ``(train, val, test)`` index arrays.

    Each group of samples (one group per distinct value of ``stratify``, or a single group) is
    shuffled with ``numpy.random.default_rng(seed)`` and cut into
    ``n_test = round(test * n_g)``, ``n_val = round(val * n_g)`` and the rest for training, so
    class proportions are preserved in every split up to rounding. The three arrays are sorted,
    disjoint, cover ``range(n_samples)``, and depend only on the arguments.

    Raises:
        ValueError: bad ``n_samples`` or fractions, ``val + test >= 1``, ``stratify`` of the
            wrong length, a requested (nonzero-fraction) split that would be empty, or a class
            left without training samples.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an integer, got {seed!r} (no hidden randomness).")
    val = _check_fraction("val", val)
    test = _check_fraction("test", test)
    if val + test >= 1.0:
        raise ValueError(f"val + test must be < 1 to leave training data, got {val} + {test}.")
    n_samples = int(n_samples)
    if stratify is None:
        groups = [np.arange(n_samples)]
    else:
        labels = np.asarray(stratify)
        if labels.shape != (n_samples,):
            raise ValueError(
                f"stratify must have shape ({n_samples},) like the samples, got {labels.shape}."
            )
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    rng = np.random.default_rng(int(seed))
    parts: tuple[list, list, list] = ([], [], [])
    for group in groups:
        perm = rng.permutation(group)
        n_g = len(perm)
        n_test = round(test * n_g)
        n_val = round(val * n_g)
        if n_test + n_val >= n_g:
            raise ValueError(
                f"a class of {n_g} sample(s) cannot be split into val={val}, test={test} and a "
                "non-empty training part; use smaller fractions or more samples."
            )
        parts[2].append(perm[:n_test])
        parts[1].append(perm[n_test : n_test + n_val])
        parts[0].append(perm[n_test + n_val :])
    train, val_idx, test_idx = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    for name, frac, idx in (("val", val, val_idx), ("test", test, test_idx)):
        if frac > 0 and idx.size == 0:
            raise ValueError(
                f"{name}={frac} of {n_samples} sample(s) rounds to an empty {name} split; "
                f"use a larger fraction, more samples, or {name}=0."
            )
    return train, val_idx, test_idx
