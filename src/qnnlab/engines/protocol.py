"""The engine contract: what every interpreter of a :class:`~qnnlab.circuits.Circuit` provides.

An *engine* evaluates one circuit ``U(theta)`` (input state on ``circuit.input_qubits``, every
other qubit in ``|0>``, discarded qubits traced out) and returns expectation values

    <O>(theta, rho) = Tr[O Phi_theta(rho)],   Phi_theta(rho) = Tr_discarded[U(theta) (rho (x)
    |0..0><0..0|) U(theta)^dag],

with ``O`` an :class:`~qnnlab.circuits.Observable` on alive qubits. Every engine reads the same
angle table (:func:`qnnlab.circuits.angles.angle_table`): ``a = angles(theta)`` with
``a[u] = scales[u] theta[slots[u]] + offsets[u]``, one entry per angle argument per gate, in
circuit order. ``expval_from_angles_fn`` is a function of ``a``, and ``expval_fn`` is
``expval_from_angles_fn`` composed with ``angles``; shots and parameter-shift gradients
(:mod:`qnnlab.engines.shots`, :mod:`qnnlab.engines.gradients`) are built on these and on nothing
else, so a new engine gets them for free.

**Required core** (:class:`Engine`, checked by ``isinstance(engine, Engine)``):

* a constructor ``Engine(circuit, *, dtype="complex64", **options)`` registered by name in
  :data:`qnnlab.engines.ENGINES` (:func:`qnnlab.engines.make_engine` builds it);

* ``name``, ``circuit``, ``n_qubits``, ``n_params``, ``dtype`` (complex) and ``real_dtype``;
* ``capabilities``: a frozenset of :data:`CAPABILITIES` (class attribute, so callers can ask the
  registry before building an engine);
* ``angle_table`` and ``angles(theta) -> a``;
* ``prepare(theta, inputs) -> (theta, batch, single)``: the checked boundary. ``theta`` becomes a
  ``real_dtype`` vector of length ``n_params``; ``inputs`` (``None`` for ``|0..0>``, one pure
  state ``(2**k,)`` or a batch ``(B, 2**k)``, plus density matrices on engines with the
  ``"density_matrix"`` capability) becomes the batch the pure functions take; ``single`` says
  whether one state was given (results are then unbatched). Bad input raises
  :class:`~qnnlab.engines.validation.InputError`.
* ``expval_from_angles_fn(observable) -> f(a, batch) -> (B,)`` and
  ``expval_fn(observable) -> f(theta, batch) -> (B,)``: real expectation values. Every engine
  accepts a batch of pure states ``(B, 2**k)`` here (so one training loop fits every engine);
* ``expval(theta, inputs=None, observable="Z0")``: ``prepare``, then ``expval_fn`` through
  ``cached``; a scalar for one state;
* ``cached(key, make)``: a per-engine memo of ``make()`` under the hashable ``key``, compiled
  with ``jax.jit`` when the engine is ``"traceable"``, so repeated calls reuse one program.

**Optional capabilities** (present in ``capabilities`` only when the engine has them):

* ``"traceable"``: ``expval_fn``/``expval_from_angles_fn`` are pure JAX (``jit``, ``grad``,
  ``vmap``); without it callers must call them on concrete arrays only (an interpreted engine,
  e.g. Pauli propagation with data-dependent truncation);
* ``"shots"``: finite-shot estimates (:func:`qnnlab.engines.sample_expval`), built from exact
  per-term values;
* ``"probs"``: ``probs(theta, inputs, qubits)`` / ``probs_fn(qubits)`` outcome probabilities
  (needed by :func:`qnnlab.engines.sample_bitstrings`);
* ``"state"``: ``state(theta, inputs)`` / ``state_fn()``: the final pure state (a
  purification when qubits are discarded);
* ``"density_matrix"``: ``density_matrix(theta, inputs)`` / ``density_matrix_fn()``, and
  density matrices accepted as inputs.

Callers ask (``"probs" in engine.capabilities``, or :func:`require`) instead of testing the
engine's class.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from qnnlab.engines.validation import InputError

#: Every optional capability an engine may declare (module docstring).
CAPABILITIES: frozenset[str] = frozenset({"traceable", "shots", "probs", "state", "density_matrix"})


@runtime_checkable
class Engine(Protocol):
    """The public surface every engine shares (module docstring states the contract)."""

    name: str
    circuit: Any
    n_qubits: int
    n_params: int
    dtype: Any
    real_dtype: Any
    capabilities: frozenset[str]

    @property
    def angle_table(self) -> Any:
        """The circuit's :class:`~qnnlab.circuits.angles.AngleTable`."""
        ...

    def angles(self, theta):
        """``a = angle_table.evaluate(theta)``: one entry per angle argument per gate."""
        ...

    def prepare(self, theta, inputs) -> tuple[Any, Any, bool]:
        """``(theta, batch, single)``: checked parameters and input batch."""
        ...

    def expval_from_angles_fn(self, observable):
        """``f(angles, batch) -> (B,)``."""
        ...

    def expval_fn(self, observable):
        """``f(theta, batch) -> (B,)``."""
        ...

    def expval(self, theta, inputs=None, observable="Z0"):
        """Checked ``<O>`` per input state (scalar for one state)."""
        ...

    def cached(self, key, make):
        """``make()`` memoised under ``key`` (jitted when traceable)."""
        ...


def require(engine, capability: str, what: str) -> None:
    """Raise :class:`InputError` when ``engine`` lacks ``capability`` (needed for ``what``),
    naming the registered engines that have it."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {sorted(CAPABILITIES)}.")
    if capability in engine.capabilities:
        return
    from qnnlab.engines import ENGINES  # the registry imports this module

    able = sorted(n for n, cls in ENGINES.items() if capability in cls.capabilities)
    raise InputError(
        f"the {engine.name!r} engine has no {capability!r} capability, which {what} needs; "
        f"use an engine that has it: {able}"
        + (
            " (or train the compiled Pauli-propagation surrogate, qnnlab.surrogate)."
            if engine.name == "pauliprop" and capability == "traceable"
            else "."
        )
    )
