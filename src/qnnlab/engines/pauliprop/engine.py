"""The Pauli-propagation engine: the third interpreter of a :class:`Circuit`, in the Heisenberg
picture, behind the same :class:`~qnnlab.engines.protocol.Engine` contract as the statevector
and density engines.

``<O>(theta, psi) = sum_j c_j(theta) <psi|P_j|psi>`` with ``sum_j c_j P_j = U^dag O U`` from
:func:`~qnnlab.engines.pauliprop.propagate` (truncated as configured, exact by default) and the
expectations ``<psi|P_j|psi>`` from :mod:`~qnnlab.engines.pauliprop.evaluate`. Inputs are what the
dense engines take (``None`` for ``|0..0>``, a pure state or a batch), and also what only this
engine can take: :class:`~qnnlab.data.MPS` states, classical shadows and product states
(:meth:`PauliPropagationEngine.expval_on`).

The engine is interpreted (NumPy and Numba, float64), not JAX-traceable: its ``expval_fn`` runs
on concrete arrays. Its compiled, differentiable form is :mod:`qnnlab.surrogate`.
"""

from __future__ import annotations

import numpy as np

from qnnlab.circuits.angles import angle_table
from qnnlab.circuits.circuit import Circuit
from qnnlab.engines.pauliprop.propagate import PropagationResult, Truncation, propagate
from qnnlab.engines.pauliprop.steps import build_steps
from qnnlab.engines.validation import (
    check_observable,
    check_pure_states,
    check_theta,
    resolve_dtype,
)


class PauliPropagationEngine:
    """Expectation values by Heisenberg-picture Pauli propagation (module docstring).

    Args:
        circuit: the circuit.
        dtype: precision of the returned values (``"complex64"``: float32 results, the other
            engines' default; ``"complex128"``: float64). Propagation itself is float64.
        max_weight, min_coeff, max_freq, max_terms: truncations
            (:class:`~qnnlab.engines.pauliprop.Truncation`); none by default (exact).
        mode: ``"blocks"`` or ``"gates"`` (:mod:`~qnnlab.engines.pauliprop.steps`).
    """

    name = "pauliprop"
    #: :mod:`qnnlab.engines.protocol` capabilities: exact per-term values make shots possible.
    capabilities = frozenset({"shots"})

    def __init__(
        self,
        circuit: Circuit,
        *,
        dtype="complex64",
        max_weight: int | None = None,
        min_coeff: float | None = None,
        max_freq: int | None = None,
        max_terms: int | None = None,
        mode: str | None = None,
    ):
        self.circuit = circuit
        self.dtype, self.real_dtype = resolve_dtype(dtype)
        self.n_qubits = circuit.n_qubits
        self.n_params = circuit.n_params
        self.truncation = Truncation(max_weight, min_coeff, max_freq, max_terms)
        self.mode = mode if mode is not None else ("gates" if max_freq is not None else "blocks")
        self._angle_table = angle_table(circuit)
        self._program = None
        self._memo: dict = {}

    @property
    def angle_table(self):
        """The circuit's angle table (:func:`qnnlab.circuits.angles.angle_table`)."""
        return self._angle_table

    @property
    def program(self):
        """The circuit's Heisenberg steps (built on first use, then reused)."""
        if self._program is None:
            self._program = build_steps(self.circuit, self.mode)
        return self._program

    def angles(self, theta):
        """Angle vector (one entry per angle argument per gate), float64 NumPy."""
        return self._angle_table.evaluate_numpy(np.asarray(theta, np.float64))

    def propagate_angles(self, angles, observable) -> PropagationResult:
        """``U^dag O U`` at the angle vector ``angles`` with this engine's truncation."""
        cut = self.truncation
        return propagate(
            self.circuit,
            observable,
            None,
            angles=np.asarray(angles, np.float64),
            max_weight=cut.max_weight,
            min_coeff=cut.min_coeff,
            max_freq=cut.max_freq,
            max_terms=cut.max_terms,
            program=self.program,
        )

    def propagate(self, theta, observable="Z0") -> PropagationResult:
        """The propagated observable at parameters ``theta`` (checked)."""
        theta = np.asarray(check_theta(theta, self.n_params, np.float64))
        obs = check_observable(observable, self.n_qubits, self.circuit.alive_qubits)
        return self.propagate_angles(self.angles(theta), obs)

    def expval_from_angles_fn(self, observable):
        """``f(angles, batch) -> (B,)``: propagate at ``angles``, evaluate on pure states."""
        from qnnlab.engines.pauliprop.evaluate import pauli_expvals_dense

        inputs = tuple(self.circuit.input_qubits)
        k = len(inputs)

        def f(angles, batch):
            result = self.propagate_angles(np.asarray(angles), observable)
            table = result.operator.table.remap(inputs, k)
            psi = np.asarray(batch, np.complex128)
            values = pauli_expvals_dense(table, psi.reshape(-1, psi.shape[-1]))
            return np.asarray(values @ result.operator.coeffs, dtype=self.real_dtype)

        return f

    def expval_fn(self, observable):
        """``f(theta, batch) -> (B,)`` on concrete arrays."""
        inner = self.expval_from_angles_fn(observable)
        return lambda theta, batch: inner(self.angles(theta), batch)

    def prepare(self, theta, psi):
        """``(theta, batch (B, 2**k), single)``: checked parameters and pure input states
        (``None``: ``|0..0>`` on the input qubits)."""
        theta = np.asarray(check_theta(theta, self.n_params, self.real_dtype))
        if psi is None:
            k = len(self.circuit.input_qubits)
            psi = np.zeros(2**k, dtype=np.complex128)
            psi[0] = 1.0
        batch, single = check_pure_states(psi, len(self.circuit.input_qubits), self.dtype)
        return theta, np.asarray(batch), single

    def cached(self, key, make):
        """``make()``, built once per ``key`` (the engine is interpreted: no jit)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def expval(self, theta, psi=None, observable="Z0"):
        """``<O>`` for each input state (scalar for a single state); inputs are validated."""
        theta, batch, single = self.prepare(theta, psi)
        obs = check_observable(observable, self.n_qubits, self.circuit.alive_qubits)
        out = self.cached(("expval", obs), lambda: self.expval_fn(obs))(theta, batch)
        return out[0] if single else out

    def expval_on(self, theta, data, observable="Z0"):
        """``<O>`` on data the dense engines cannot take: an :class:`~qnnlab.data.MPS` or a
        list of them, a :class:`~qnnlab.shadows.ClassicalShadow` or a list (estimates), or
        :class:`~qnnlab.engines.pauliprop.evaluate.ProductStates`; also dense state arrays.
        Data qubit ``k`` is the circuit's ``input_qubits[k]``."""
        from qnnlab.engines.pauliprop.evaluate import expvals  # loads data and shadows

        result = self.propagate(theta, observable)
        inputs = tuple(self.circuit.input_qubits)
        table = result.operator.table.remap(inputs, len(inputs))
        values = expvals(table, data)
        if isinstance(values, tuple):  # shadows: (estimates, error bars)
            values = values[0]
        return np.asarray(values) @ result.operator.coeffs
