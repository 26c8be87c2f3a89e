"""Many Pauli strings as one packed table: the encoding Pauli propagation, shadow estimation and
the classical surrogate share.

String ``t`` is the pair of bit rows ``x[t], z[t]`` (``uint64`` words): qubit ``q`` carries
``(x, z) = (bit q % 64 of word q // 64)`` with ``I = (0, 0)``, ``X = (1, 0)``, ``Z = (0, 1)``,
``Y = (1, 1)`` (``docs/conventions.md``). The per-qubit *code* ``x + 2 z`` is 0, 1, 2, 3 for
``I, X, Z, Y``; every consumer that needs letters per qubit reads :meth:`PauliTable.sparse`,
which lists only the non-identity letters, so a table of low-weight strings on 1,000 qubits
costs a few entries per string.

Example:
    >>> t = PauliTable.from_strings(["Z0 Z1", "X3"], n_qubits=4)
    >>> t.weights().tolist()
    [2, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from qnnlab.circuits.paulis import PauliString, pauli

#: letter of each per-qubit code ``x + 2 z``
CODE_LETTERS = ("I", "X", "Z", "Y")
#: per-qubit code of each letter
LETTER_CODES = {"I": 0, "X": 1, "Z": 2, "Y": 3}


def n_words(n_qubits: int) -> int:
    """64-bit words per bit row for ``n_qubits`` qubits (at least one)."""
    return max(1, -(-int(n_qubits) // 64))


@dataclass(frozen=True)
class PauliTable:
    """``T`` Pauli strings on ``n_qubits`` qubits as packed ``(T, W)`` ``uint64`` bit rows."""

    n_qubits: int
    x: np.ndarray
    z: np.ndarray

    def __post_init__(self) -> None:
        w = n_words(self.n_qubits)
        for name, rows in (("x", self.x), ("z", self.z)):
            if rows.dtype != np.uint64 or rows.ndim != 2 or rows.shape[1] != w:
                raise ValueError(
                    f"PauliTable.{name} must be a (T, {w}) uint64 array for {self.n_qubits} "
                    f"qubits, got {rows.dtype} {rows.shape}."
                )
        if self.x.shape != self.z.shape:
            raise ValueError(f"PauliTable x {self.x.shape} and z {self.z.shape} differ in shape.")

    @classmethod
    def empty(cls, n_qubits: int) -> PauliTable:
        w = n_words(n_qubits)
        return cls(n_qubits, np.zeros((0, w), np.uint64), np.zeros((0, w), np.uint64))

    @classmethod
    def from_strings(cls, strings: Iterable[str | PauliString], n_qubits: int) -> PauliTable:
        """Pack Pauli strings (labels or :class:`PauliString`) on ``n_qubits`` qubits."""
        strings = [pauli(s) for s in strings]
        terms, qubits, codes = [], [], []
        for t, s in enumerate(strings):
            for q, letter in s.ops:
                if q >= n_qubits:
                    raise ValueError(
                        f"Pauli string {s} acts on qubit {q}, outside {n_qubits} qubits."
                    )
                terms.append(t)
                qubits.append(q)
                codes.append(LETTER_CODES[letter])
        return cls.from_sparse(
            len(strings),
            n_qubits,
            np.asarray(terms, np.int64),
            np.asarray(qubits, np.int64),
            np.asarray(codes, np.int64),
        )

    @classmethod
    def from_sparse(cls, n_terms: int, n_qubits: int, terms, qubits, codes) -> PauliTable:
        """Build from non-identity entries: string ``terms[i]`` has code ``codes[i]`` on
        ``qubits[i]`` (codes 1, 2, 3 = X, Z, Y)."""
        w = n_words(n_qubits)
        x = np.zeros((n_terms, w), np.uint64)
        z = np.zeros((n_terms, w), np.uint64)
        terms = np.asarray(terms, np.int64)
        qubits = np.asarray(qubits, np.int64)
        codes = np.asarray(codes, np.int64)
        bit = np.left_shift(np.uint64(1), (qubits % 64).astype(np.uint64))
        words = qubits // 64
        has_x = (codes & 1).astype(bool)
        has_z = (codes & 2).astype(bool)
        np.bitwise_or.at(x, (terms[has_x], words[has_x]), bit[has_x])
        np.bitwise_or.at(z, (terms[has_z], words[has_z]), bit[has_z])
        return cls(int(n_qubits), x, z)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def n_words(self) -> int:
        return self.x.shape[1]

    def weights(self) -> np.ndarray:
        """Number of non-identity letters per string, ``(T,)`` int64."""
        return np.bitwise_count(self.x | self.z).sum(axis=1, dtype=np.int64)

    def codes(self, qubits: Sequence[int] | None = None) -> np.ndarray:
        """``(T, len(qubits))`` int8 per-qubit codes ``x + 2 z`` (dense: for few qubits)."""
        qubits = np.arange(self.n_qubits) if qubits is None else np.asarray(qubits, np.int64)
        words, shifts = qubits // 64, (qubits % 64).astype(np.uint64)
        xb = (self.x[:, words] >> shifts) & np.uint64(1)
        zb = (self.z[:, words] >> shifts) & np.uint64(1)
        return (xb + 2 * zb).astype(np.int8)

    def sparse(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The non-identity letters as ``(term, qubit, code)`` int64 arrays, sorted by term then
        qubit; codes 1, 2, 3 are X, Z, Y."""
        support = self.x | self.z
        t_idx, w_idx = np.nonzero(support)
        if len(t_idx) == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        words = support[t_idx, w_idx]
        # unpack each non-zero word into its set bits
        bits = np.unpackbits(words.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        rows, bit_pos = np.nonzero(bits)
        terms = t_idx[rows].astype(np.int64)
        qubits = (w_idx[rows] * 64 + bit_pos).astype(np.int64)
        shift = (qubits % 64).astype(np.uint64)
        xb = (self.x[terms, qubits // 64] >> shift) & np.uint64(1)
        zb = (self.z[terms, qubits // 64] >> shift) & np.uint64(1)
        return terms, qubits, (xb + 2 * zb).astype(np.int64)

    def strings(self) -> list[PauliString]:
        """The strings as :class:`PauliString` objects (for display; slow for huge tables)."""
        terms, qubits, codes = self.sparse()
        out: list[list[tuple[int, str]]] = [[] for _ in range(len(self))]
        for t, q, c in zip(terms.tolist(), qubits.tolist(), codes.tolist(), strict=True):
            out[t].append((q, CODE_LETTERS[c]))
        return [PauliString(tuple(ops)) for ops in out]

    def labels(self) -> list[str]:
        """Sparse labels such as ``"X0 Z3"`` (``"I"`` for the identity)."""
        return [str(s) for s in self.strings()]

    def take(self, index) -> PauliTable:
        """The strings at ``index`` (an integer array or boolean mask)."""
        return PauliTable(self.n_qubits, self.x[index], self.z[index])

    def remap(self, qubits: Sequence[int], n_qubits: int) -> PauliTable:
        """Move qubit ``qubits[k]`` to qubit ``k`` of a table on ``n_qubits`` qubits; every
        string must act only on the listed qubits."""
        terms, q, codes = self.sparse()
        where = np.full(self.n_qubits, -1, np.int64)
        where[np.asarray(qubits, np.int64)] = np.arange(len(qubits))
        new = where[q]
        if np.any(new < 0):
            raise ValueError(
                f"a string acts on qubit {int(q[new < 0][0])}, which is not among {list(qubits)}."
            )
        return PauliTable.from_sparse(len(self), n_qubits, terms, new, codes)
