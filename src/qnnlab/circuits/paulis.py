"""Pauli strings and Pauli sums: the observables every engine measures.

A Pauli string is a tensor product of single-qubit Paulis ``X, Y, Z`` on named qubits, identity
elsewhere. It is stored sparsely as sorted ``(qubit, letter)`` pairs, so a weight-3 string on a
1,000-qubit chain costs three entries. A :class:`PauliSum` is a real linear combination
``O = sum_k c_k P_k`` (Hermitian by construction).

For bit-level algorithms (Pauli propagation, shadow estimation) a string maps to the symplectic
``(x, z)`` bit pair per qubit: ``I = (0, 0)``, ``X = (1, 0)``, ``Z = (0, 1)``, ``Y = (1, 1)``,
packed little-endian into unsigned 64-bit words (qubit ``q`` is bit ``q % 64`` of word
``q // 64``). See ``docs/conventions.md``.

Example:
    >>> obs = PauliSum.from_terms([(0.5, "Z0 Z1"), (1.0, "X2")])
    >>> obs.n_terms
    2
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

PAULI_LETTERS = ("X", "Y", "Z")

PAULI_MATRICES: dict[str, np.ndarray] = {
    "I": np.eye(2, dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}

_SPARSE_TOKEN = re.compile(r"^([XYZI])(\d+)$")


@dataclass(frozen=True)
class PauliString:
    """A tensor product of Paulis: ``ops`` holds sorted ``(qubit, letter)`` pairs; I elsewhere.

    Build one with :meth:`from_label` (dense, ``"XIZ"``: letter ``k`` acts on qubit ``k``) or
    :meth:`parse` (sparse, ``"X0 Z2"``), or :func:`pauli` which accepts either.
    """

    ops: tuple[tuple[int, str], ...]

    def __post_init__(self) -> None:
        seen: set[int] = set()
        for qubit, letter in self.ops:
            if letter not in PAULI_LETTERS:
                raise ValueError(
                    f"Pauli letter {letter!r} on qubit {qubit} is not one of X, Y, Z "
                    "(drop identities instead of writing 'I')."
                )
            if not isinstance(qubit, int | np.integer) or qubit < 0:
                raise ValueError(f"Pauli qubit index {qubit!r} must be a non-negative integer.")
            if qubit in seen:
                raise ValueError(
                    f"qubit {qubit} appears twice in Pauli string {self.ops}; "
                    "multiply the factors first so each qubit carries one letter."
                )
            seen.add(qubit)
        object.__setattr__(self, "ops", tuple(sorted((int(q), p) for q, p in self.ops)))

    @classmethod
    def from_label(cls, label: str) -> PauliString:
        """Dense label such as ``"XIZY"``: character ``k`` acts on qubit ``k``."""
        bad = set(label) - set("IXYZ")
        if bad:
            raise ValueError(
                f"dense Pauli label {label!r} has characters {sorted(bad)}; use I, X, Y, Z."
            )
        return cls(tuple((k, ch) for k, ch in enumerate(label) if ch != "I"))

    @classmethod
    def parse(cls, text: str) -> PauliString:
        """Sparse label such as ``"X0 Z3"`` (whitespace- or ``*``-separated); ``""`` is identity."""
        tokens = [t for t in re.split(r"[\s*]+", text.strip()) if t]
        ops = []
        for token in tokens:
            match = _SPARSE_TOKEN.match(token)
            if match is None:
                raise ValueError(
                    f"cannot read Pauli token {token!r} in {text!r}: write a letter then a qubit "
                    "index, e.g. 'X0 Z3', or a dense label like 'XIZ'."
                )
            if match.group(1) != "I":
                ops.append((int(match.group(2)), match.group(1)))
        return cls(tuple(ops))

    @property
    def qubits(self) -> tuple[int, ...]:
        return tuple(q for q, _ in self.ops)

    @property
    def letters(self) -> str:
        return "".join(p for _, p in self.ops)

    @property
    def weight(self) -> int:
        return len(self.ops)

    def label(self, n_qubits: int) -> str:
        """Dense label over ``n_qubits``."""
        chars = ["I"] * n_qubits
        for q, p in self.ops:
            if q >= n_qubits:
                raise ValueError(f"Pauli string acts on qubit {q}, outside {n_qubits} qubits.")
            chars[q] = p
        return "".join(chars)

    def matrix(self, n_qubits: int | None = None) -> np.ndarray:
        """Dense ``2**n x 2**n`` matrix (qubit 0 most significant). Default ``n``: the support."""
        if n_qubits is None:
            mats = [PAULI_MATRICES[p] for _, p in self.ops]
        else:
            mats = [PAULI_MATRICES[ch] for ch in self.label(n_qubits)]
        out = np.eye(1, dtype=np.complex128)
        for m in mats:
            out = np.kron(out, m)
        return out

    def xz_bits(self, n_qubits: int) -> tuple[np.ndarray, np.ndarray]:
        """Symplectic bits packed into ``uint64`` words: ``(x_words, z_words)``."""
        n_words = max(1, -(-n_qubits // 64))
        x = np.zeros(n_words, dtype=np.uint64)
        z = np.zeros(n_words, dtype=np.uint64)
        for q, p in self.ops:
            if q >= n_qubits:
                raise ValueError(f"Pauli string acts on qubit {q}, outside {n_qubits} qubits.")
            bit = np.uint64(1) << np.uint64(q % 64)
            if p in ("X", "Y"):
                x[q // 64] |= bit
            if p in ("Z", "Y"):
                z[q // 64] |= bit
        return x, z

    def __str__(self) -> str:
        return " ".join(f"{p}{q}" for q, p in self.ops) or "I"


def pauli(spec: str | PauliString | Mapping[int, str]) -> PauliString:
    """Read a Pauli string from a sparse label ``"X0 Z3"``, a dense label ``"XIZ"`` or a mapping."""
    if isinstance(spec, PauliString):
        return spec
    if isinstance(spec, Mapping):
        return PauliString(tuple(spec.items()))
    if not isinstance(spec, str):
        raise TypeError(f"cannot read a Pauli string from {type(spec).__name__}: {spec!r}.")
    stripped = spec.replace(" ", "")
    if stripped and set(stripped) <= set("IXYZ") and " " not in spec.strip():
        return PauliString.from_label(spec.strip())
    return PauliString.parse(spec)


@dataclass(frozen=True)
class PauliSum:
    """A Hermitian observable ``O = sum_k c_k P_k`` with real coefficients ``c_k``."""

    terms: tuple[tuple[float, PauliString], ...]

    def __post_init__(self) -> None:
        for coeff, _ in self.terms:
            if not np.isfinite(coeff) or np.iscomplexobj(coeff):
                raise ValueError(
                    f"Pauli-sum coefficient {coeff!r} must be a finite real number "
                    "(observables are Hermitian)."
                )

    @classmethod
    def from_terms(cls, terms: Iterable[tuple[float, str | PauliString]]) -> PauliSum:
        return cls(tuple((float(c), pauli(p)) for c, p in terms))

    @classmethod
    def single(cls, spec: str | PauliString, coeff: float = 1.0) -> PauliSum:
        return cls(((float(coeff), pauli(spec)),))

    @property
    def n_terms(self) -> int:
        return len(self.terms)

    @property
    def qubits(self) -> tuple[int, ...]:
        return tuple(sorted({q for _, p in self.terms for q in p.qubits}))

    def matrix(self, n_qubits: int) -> np.ndarray:
        dim = 2**n_qubits
        out = np.zeros((dim, dim), dtype=np.complex128)
        for coeff, p in self.terms:
            out += coeff * p.matrix(n_qubits)
        return out

    def __add__(self, other: PauliSum) -> PauliSum:
        return PauliSum(self.terms + as_observable(other).terms)

    def __mul__(self, scalar: float) -> PauliSum:
        return PauliSum(tuple((scalar * c, p) for c, p in self.terms))

    __rmul__ = __mul__

    def __str__(self) -> str:
        return " + ".join(f"{c:g}*{p}" for c, p in self.terms) or "0"


@dataclass(frozen=True)
class BasisProjector:
    """Projector ``|b><b|`` onto a computational basis state of the listed qubits.

    Its expectation is the probability of measuring ``bits`` on ``qubits``. With ``bits`` all zero
    and ``qubits`` the output register it is the fidelity term of the global cost,
    ``C_G = 1 - <P_0>`` (Eq. 3 of arXiv:2005.12458): one amplitude, where the equivalent Pauli sum
    would need ``2**n`` terms.
    """

    qubits: tuple[int, ...]
    bits: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.qubits) != len(self.bits):
            raise ValueError(
                f"BasisProjector has {len(self.qubits)} qubits but {len(self.bits)} bits; "
                "give one bit per qubit."
            )
        if len(set(self.qubits)) != len(self.qubits):
            raise ValueError(f"BasisProjector lists a qubit twice: {self.qubits}.")
        if any(b not in (0, 1) for b in self.bits):
            raise ValueError(f"BasisProjector bits must be 0 or 1, got {self.bits}.")

    @classmethod
    def zeros(cls, qubits: Iterable[int]) -> BasisProjector:
        qubits = tuple(int(q) for q in qubits)
        return cls(qubits, (0,) * len(qubits))

    def matrix(self, n_qubits: int) -> np.ndarray:
        vec = np.zeros(2**n_qubits)
        index = np.zeros(2**n_qubits, dtype=bool) | True
        basis = (np.arange(2**n_qubits)[:, None] >> (n_qubits - 1 - np.arange(n_qubits))) & 1
        for q, b in zip(self.qubits, self.bits, strict=True):
            index &= basis[:, q] == b
        vec[index] = 1.0
        return np.diag(vec).astype(np.complex128)


Observable = PauliSum | BasisProjector


def as_observable(obj: Observable | str | PauliString) -> Observable:
    """Accept a PauliSum, a BasisProjector, a PauliString or a label and return an observable."""
    if isinstance(obj, PauliSum | BasisProjector):
        return obj
    if isinstance(obj, PauliString | str):
        return PauliSum.single(obj)
    raise TypeError(
        f"expected an observable (PauliSum, BasisProjector, PauliString or label like 'Z0'), "
        f"got {type(obj).__name__}."
    )
