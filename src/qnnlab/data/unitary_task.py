"""Learning an unknown unitary from examples (Beer et al., Nat. Commun. 11, 808 (2020)).

Training data are pairs ``(|phi_x>, V|phi_x>)`` with ``V`` a Haar-random unitary on ``n`` qubits
and ``|phi_x>`` Haar-random states; a held-out test set is drawn the same way. For the
robustness study, ``noisy`` of the pairs have their output replaced by an unrelated Haar-random
state: the network sees ``N - noisy`` good pairs and ``noisy`` pairs of pure noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnnlab.circuits.haar import as_generator, haar_states, haar_unitary


@dataclass(frozen=True)
class UnitaryTask:
    """Pairs for learning ``unitary``; ``noisy_mask[x]`` marks corrupted training pairs."""

    unitary: np.ndarray
    train_inputs: np.ndarray
    train_targets: np.ndarray
    test_inputs: np.ndarray
    test_targets: np.ndarray
    noisy_mask: np.ndarray

    @property
    def n_qubits(self) -> int:
        return int(np.log2(self.unitary.shape[0]))

    def subset(self, n_pairs: int) -> UnitaryTask:
        """The first ``n_pairs`` training pairs (same unitary and test set)."""
        if not 1 <= n_pairs <= len(self.train_inputs):
            raise ValueError(
                f"n_pairs must be between 1 and {len(self.train_inputs)}, got {n_pairs}."
            )
        return UnitaryTask(
            self.unitary,
            self.train_inputs[:n_pairs],
            self.train_targets[:n_pairs],
            self.test_inputs,
            self.test_targets,
            self.noisy_mask[:n_pairs],
        )


def unitary_task(
    n_qubits: int, n_pairs: int, *, n_test: int = 100, noisy: int = 0, seed=0
) -> UnitaryTask:
    """A Haar-random ``V`` on ``n_qubits``, ``n_pairs`` training and ``n_test`` test pairs.

    Args:
        noisy: how many training pairs (the last ones) get a random unrelated output.
    """
    if not isinstance(n_qubits, int) or not 1 <= n_qubits <= 12:
        raise ValueError(f"n_qubits must be an integer from 1 to 12, got {n_qubits!r}.")
    if not isinstance(n_pairs, int) or n_pairs < 1:
        raise ValueError(f"n_pairs must be a positive integer, got {n_pairs!r}.")
    if not isinstance(noisy, int) or not 0 <= noisy <= n_pairs:
        raise ValueError(f"noisy must be an integer between 0 and n_pairs={n_pairs}, got {noisy}.")
    rng = as_generator(seed)
    d = 2**n_qubits
    v = haar_unitary(d, rng)
    train_in = haar_states(n_pairs, d, rng)
    train_out = train_in @ v.T
    test_in = haar_states(n_test, d, rng)
    test_out = test_in @ v.T
    mask = np.zeros(n_pairs, dtype=bool)
    if noisy:
        mask[n_pairs - noisy :] = True
        train_out[mask] = haar_states(noisy, d, rng)
    return UnitaryTask(v, train_in, train_out, test_in, test_out, mask)
