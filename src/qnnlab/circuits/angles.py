"""The angle table of a :class:`~qnnlab.circuits.Circuit`: ``theta -> a``, shared by every engine.

Every angle argument of every gate becomes one entry of a flat *angle vector*

    a[u] = scales[u] * theta[slots[u]] + offsets[u],

one entry per angle argument per gate, in circuit order (gate after gate, the arguments of a gate
in their order; discards have none). A constant angle has ``scales[u] = 0``, ``slots[u] = 0`` and
``shift_rules[u] = None`` and never reads ``theta``. Engines are functions of ``a``: weight
sharing is the gather ``theta[slot]`` (autodiff sums over the gates a slot feeds), and parameter
shift (:mod:`qnnlab.engines.gradients`) shifts each entry on its own.

The table depends on the circuit only, so every engine (fusing statevector and density engines,
Pauli propagation, ...) reads the same one and agrees on what entry ``u`` means.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.circuit import Circuit, Discard


@dataclass(frozen=True)
class AngleTable:
    """Map ``theta -> a``: ``a[u] = scales[u] * theta[slots[u]] + offsets[u]``.

    Attributes:
        slots: ``(U,)`` int32 parameter slot of each entry (0 for constants).
        scales: ``(U,)`` float64 scale (0 for constants).
        offsets: ``(U,)`` float64 offset (the value itself for constants).
        shift_rules: per entry, the key of :data:`~qnnlab.circuits.gates.SHIFT_RULES` of its
            gate, or None for a constant angle.
        gate_entries: per gate of ``circuit.gates`` (in order), the entries of its angles.
    """

    slots: np.ndarray
    scales: np.ndarray
    offsets: np.ndarray
    shift_rules: tuple[str | None, ...]
    gate_entries: tuple[tuple[int, ...], ...] = ()

    @property
    def size(self) -> int:
        return len(self.slots)

    @property
    def is_parameter(self) -> np.ndarray:
        """``(U,)`` bool: whether entry ``u`` reads ``theta`` (not a constant angle)."""
        return np.asarray([rule is not None for rule in self.shift_rules], dtype=bool)

    def evaluate(self, theta):
        """The angle vector ``a`` ``(U,)`` as a JAX array in ``theta``'s dtype (traceable)."""
        if self.size == 0:
            return jnp.zeros((0,), dtype=jnp.result_type(theta))
        dtype = jnp.result_type(theta)
        if theta.shape[-1] == 0:
            return jnp.asarray(self.offsets, dtype)
        # Constant angles must not read theta at all (a NaN there would leak into them).
        varying = jnp.where(self.is_parameter, theta[self.slots] * self.scales.astype(dtype), 0)
        return varying + self.offsets.astype(dtype)

    def evaluate_numpy(self, theta) -> np.ndarray:
        """The angle vector ``a`` ``(U,)`` in NumPy float64 (for references and host code)."""
        theta = np.asarray(theta, dtype=np.float64)
        if self.size == 0:
            return np.zeros((0,), dtype=np.float64)
        if theta.shape[-1] == 0:
            return self.offsets.copy()
        varying = np.where(self.is_parameter, theta[self.slots] * self.scales, 0.0)
        return varying + self.offsets


def angle_table(circuit: Circuit) -> AngleTable:
    """The :class:`AngleTable` of ``circuit`` (module docstring): one entry per angle argument
    per gate, in circuit order."""
    slots, scales, offsets, rules, entries = [], [], [], [], []
    for op in circuit.operations:
        if isinstance(op, Discard):
            continue
        start = len(slots)
        for angle in op.angles:
            slots.append(0 if angle.slot is None else angle.slot)
            scales.append(0.0 if angle.slot is None else angle.scale)
            offsets.append(angle.offset)
            rules.append(None if angle.slot is None else op.spec.shift_rule)
        entries.append(tuple(range(start, len(slots))))
    return AngleTable(
        np.asarray(slots, dtype=np.int32),
        np.asarray(scales, dtype=np.float64),
        np.asarray(offsets, dtype=np.float64),
        tuple(rules),
        tuple(entries),
    )
