"""Classical shadows from random single-qubit Pauli measurements: the snapshot container.

A classical shadow (Huang, Kueng, Preskill, Nat. Phys. 16, 1050 (2020), arXiv:2002.08953) of an
``n``-qubit state ``rho`` is a list of ``T`` snapshots. In snapshot ``t`` every qubit ``q`` is
measured in a uniformly random Pauli basis ``recipes[t, q]`` (``0 = X, 1 = Y, 2 = Z``) and gives
the outcome ``bits[t, q]`` (``0`` means the eigenvalue ``+1``, ``1`` the eigenvalue ``-1``).
The snapshot's classical estimate of the state is

    rho_hat_t = (x)_q (3 U_q^dagger |b_q><b_q| U_q - I),

whose average over the measurement randomness is ``rho`` itself; the estimators in
:mod:`qnnlab.shadows.estimators` use it without ever forming the ``2^n x 2^n`` matrix.

The arrays are laid out exactly like PennyLane's ``qml.ClassicalShadow(bits, recipes)`` (both
``(T, n)``, qubit ``q`` is column ``q``), so measurement records from hardware or PennyLane load
directly: ``ClassicalShadow(bits, recipes)``.

Files: :meth:`ClassicalShadow.save` writes an ``.npz`` archive holding ``bits``, ``recipes``, a
format tag and a format version, atomically (readers see the old file or the new one);
:meth:`ClassicalShadow.load` checks all four and raises :class:`ShadowFormatError` for anything
else.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qnnlab.runtime.checkpoint import atomic_write_bytes

#: Pauli measurement bases in the order of the ``recipes`` codes (PennyLane's order).
BASES = ("X", "Y", "Z")

#: The format tag stored in every shadow file.
FORMAT_TAG = "qnnlab.ClassicalShadow"
#: The newest file format version this code writes and reads.
FORMAT_VERSION = 1


class ShadowFormatError(ValueError):
    """A file is not a readable classical-shadow file; the message names the problem."""


def _as_code_array(values, name: str, upper: int) -> np.ndarray:
    """``values`` as a C-contiguous int8 ``(T, n)`` array with entries in ``0 .. upper - 1``."""
    try:
        arr = np.asarray(values)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(
            f"ClassicalShadow {name} could not be read as an array ({exc}); pass a (T, n) array."
        ) from exc
    if arr.ndim != 2:
        raise ValueError(
            f"ClassicalShadow {name} must be a 2-D array (snapshots, qubits), got shape "
            f"{arr.shape}; reshape it to (T, n)."
        )
    if arr.shape[1] < 1:
        raise ValueError(f"ClassicalShadow {name} has shape {arr.shape}: it needs >= 1 qubit.")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(
                f"ClassicalShadow {name} has non-integer values; {name} must be integers "
                f"0..{upper - 1}."
            )
    elif not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"ClassicalShadow {name} has dtype {arr.dtype}; it must be integer "
            f"(values 0..{upper - 1}), e.g. {name}.astype(np.int8)."
        )
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        bad = arr[(arr < 0) | (arr >= upper)].ravel()[0]
        meaning = "0/1 outcomes (0 = eigenvalue +1)" if upper == 2 else "bases 0, 1, 2 = X, Y, Z"
        raise ValueError(
            f"ClassicalShadow {name} contains the value {int(bad)}; {name} must hold {meaning}."
        )
    return np.array(arr, dtype=np.int8, order="C")  # always a fresh copy


@dataclass(frozen=True, eq=False)
class ClassicalShadow:
    """``T`` random Pauli-basis snapshots of ``n`` qubits (see the module docstring).

    Attributes:
        bits: int8 ``(T, n)``, outcome of qubit ``q`` in snapshot ``t``: ``0`` = eigenvalue +1.
        recipes: int8 ``(T, n)``, basis of qubit ``q`` in snapshot ``t``: ``0, 1, 2 = X, Y, Z``.

    Both are copied, made read-only and validated on construction. Slicing selects snapshots:
    ``shadow[:1000]`` is a new shadow of the first 1,000.
    """

    bits: np.ndarray
    recipes: np.ndarray

    def __post_init__(self) -> None:
        bits = _as_code_array(self.bits, "bits", 2)
        recipes = _as_code_array(self.recipes, "recipes", 3)
        if bits.shape != recipes.shape:
            raise ValueError(
                f"ClassicalShadow bits have shape {bits.shape} but recipes {recipes.shape}; "
                "both must be (snapshots, qubits) with one basis per outcome."
            )
        bits.setflags(write=False)
        recipes.setflags(write=False)
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "recipes", recipes)

    # ------------------------------------------------------------------ shape
    @property
    def n_snapshots(self) -> int:
        return self.bits.shape[0]

    @property
    def n_qubits(self) -> int:
        return self.bits.shape[1]

    def __len__(self) -> int:
        return self.n_snapshots

    def __getitem__(self, index) -> ClassicalShadow:
        """Select snapshots (rows): a slice, an integer array or a boolean mask."""
        if isinstance(index, tuple):
            raise IndexError(
                "ClassicalShadow indexes snapshots only (shadow[a:b]); select qubits with "
                "ClassicalShadow(shadow.bits[:, qubits], shadow.recipes[:, qubits])."
            )
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1 if index != -1 else None)
        return ClassicalShadow(self.bits[index], self.recipes[index])

    def __eq__(self, other) -> bool:
        if not isinstance(other, ClassicalShadow):
            return NotImplemented
        return np.array_equal(self.bits, other.bits) and np.array_equal(self.recipes, other.recipes)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ClassicalShadow(n_snapshots={self.n_snapshots}, n_qubits={self.n_qubits})"

    # ------------------------------------------------------------------ combining
    @classmethod
    def concatenate(cls, shadows: Iterable[ClassicalShadow]) -> ClassicalShadow:
        """All snapshots of ``shadows`` in order (same qubit count required)."""
        return concatenate(shadows)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the shadow to ``path`` (an ``.npz`` archive; the name is used as given).

        The archive holds ``format`` (the tag ``qnnlab.ClassicalShadow``), ``version``,
        ``bits`` and ``recipes``; it is written atomically.
        """
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.array(FORMAT_TAG),
            version=np.array(FORMAT_VERSION, dtype=np.int64),
            bits=self.bits,
            recipes=self.recipes,
        )
        return atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> ClassicalShadow:
        """Read a shadow written by :meth:`save`; anything else raises :class:`ShadowFormatError`.

        A missing file raises ``FileNotFoundError`` as usual.
        """
        path = Path(path)
        data = path.read_bytes()
        where = f"{path}"
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise ShadowFormatError(
                f"{where} is not an .npz archive (it may be truncated, or not written by "
                "ClassicalShadow.save); write shadows with shadow.save(path)."
            )
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                keys = set(archive.files)
                if "format" not in keys:
                    raise ShadowFormatError(
                        f"{where} is an .npz archive but not a classical-shadow file (no 'format' "
                        f"entry; it holds {sorted(keys)}). To load raw PennyLane arrays use "
                        "ClassicalShadow(bits, recipes)."
                    )
                tag = archive["format"]
                if tag.shape != () or str(tag) != FORMAT_TAG:
                    raise ShadowFormatError(
                        f"{where} has format tag {tag!s:.60}, expected {FORMAT_TAG!r}: it was not "
                        "written by ClassicalShadow.save."
                    )
                missing = {"version", "bits", "recipes"} - keys
                if missing:
                    raise ShadowFormatError(
                        f"{where} lacks the entries {sorted(missing)}; the file is damaged. "
                        "Re-create it with ClassicalShadow.save."
                    )
                version = archive["version"]
                if version.shape != () or not np.issubdtype(version.dtype, np.integer):
                    raise ShadowFormatError(f"{where} has an unreadable format version {version}.")
                if int(version) > FORMAT_VERSION or int(version) < 1:
                    raise ShadowFormatError(
                        f"{where} has format version {int(version)}; this qnnlab reads versions "
                        f"1..{FORMAT_VERSION}. Upgrade qnnlab to read it."
                    )
                bits, recipes = archive["bits"], archive["recipes"]
                for name, entry in (("bits", bits), ("recipes", recipes)):
                    if not isinstance(entry, np.ndarray):  # npz hands back raw bytes then
                        raise ShadowFormatError(
                            f"{where}: the entry {name!r} could not be read as an array; the "
                            "file is damaged. Re-create it with ClassicalShadow.save."
                        )
        except ShadowFormatError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
            raise ShadowFormatError(
                f"{where} could not be read ({type(exc).__name__}: {exc}); the file is truncated "
                "or damaged. Re-create it with ClassicalShadow.save."
            ) from exc
        try:
            return cls(bits, recipes)
        except ValueError as exc:
            raise ShadowFormatError(f"{where} holds invalid shadow data: {exc}") from exc


def concatenate(shadows: Sequence[ClassicalShadow] | Iterable[ClassicalShadow]) -> ClassicalShadow:
    """One shadow with the snapshots of all ``shadows``, in order."""
    shadows = list(shadows)
    if not shadows:
        raise ValueError("concatenate needs at least one ClassicalShadow.")
    for s in shadows:
        if not isinstance(s, ClassicalShadow):
            raise TypeError(f"concatenate takes ClassicalShadow objects, got {type(s).__name__}.")
    widths = sorted({s.n_qubits for s in shadows})
    if len(widths) > 1:
        raise ValueError(
            f"cannot concatenate shadows of different qubit counts {widths}; every snapshot "
            "must cover the same qubits."
        )
    return ClassicalShadow(
        np.concatenate([s.bits for s in shadows]), np.concatenate([s.recipes for s in shadows])
    )
