"""The computations and decision rules behind ``qnnlab audit``: gradient statistics of every
parameter at once, and the two verdicts (trainability, need for a quantum computer) as explicit,
testable rules on numbers.

**Gradients.** For a circuit ``U(theta)`` read out by ``O`` the cost is the model's output
``C(theta) = <0..0| U^dag O U |0..0>`` (an affine cost ``a + s C`` scales every variance by
``s^2``). :func:`gradient_draws` draws ``theta ~ U[0, 2 pi)^P`` exactly as
:func:`qnnlab.analysis.variance.gradient_samples` does (key ``fold_in(key(seed), n_qubits)``,
one ``(draws, P)`` table) and returns the whole gradient ``dC/dtheta`` per draw (reverse mode,
adjoint method), so one compiled program gives every parameter; column ``nu`` equals the samples
of :func:`~qnnlab.analysis.variance.estimate_gradient_variance` with ``param_index=nu``.
:func:`gradient_statistics` gives, from the ``N x P`` table ``g``:

* ``Var_nu`` of the tracked parameter with its standard error (``sample_statistics``);
* the mean over parameters ``V = (1/P) sum_nu Var_nu = (1/(N-1)) sum_i h_i`` with
  ``h_i = (1/P) sum_nu (g_i,nu - gbar_nu)^2``; its standard error is ``std(h) / sqrt(N)``
  (the draws are independent; the parameters of one draw are not, and ``h_i`` keeps that);
* the fraction of parameters whose gradient variance is at most ``ZERO_VARIANCE`` (outside the
  observable's backward light cone, or acting trivially on ``|0..0>``).

**Shots to resolve a gradient.** A parameter-shift component ``g = (E_+ - E_-) / 2`` from two
expectation values of a ``+-1``-valued observable, each from ``S`` shots, has shot-noise variance
at most ``(1/S + 1/S) / 4 = 1 / (2 S)``. It equals the typical squared gradient ``Var`` when
``S = 1 / (2 Var)``: :func:`shots_to_resolve`, a lower bound on the shots per expectation value
below which a random-initialised gradient is noise.

**Decision rules** (constants below, applied by :func:`assess_trainability` and
:func:`assess_simulability`; each returns a :class:`Finding`: a level ``ok``/``warn``/``bad``, a
short label and the reasons with their numbers).

Trainability, from ``Var(n)`` over ``>= MIN_SIZES`` qubit counts fitted by
:func:`qnnlab.analysis.fits.fit_scaling` (``Var = A b^n`` vs ``Var = A n^-p``, weighted least
squares on ``ln Var``). Both fits have two parameters, so their AIC difference is the
difference of their ``chi^2``. When even the better fit scatters beyond the error bars (the steps
of a QCNN where a new pooling scale starts, heavy-tailed gradients), that difference overstates
the evidence: it is divided by the overdispersion ``c = max(1, chi^2_min / dof)`` of the better
fit (QAIC; Burnham & Anderson, *Model Selection and Multimodel Inference*, Sec. 2.5), giving
``dAIC``:

1. fewer than ``MIN_SIZES`` sizes: *not assessed* (warn);
2. the decay is not significant (``b + SIGNIFICANCE_SIGMAS * b_err >= 1``): *no decay* (ok) when
   the base is known to ``b_err <= MAX_FLAT_BASE_ERR``, else *inconclusive* (warn, too noisy);
3. exponential preferred: ``dAIC > DECISIVE_DELTA_AIC`` (10) *barren plateau* (bad);
   ``dAIC >= LEAN_DELTA_AIC`` (2) *likely barren plateau* (warn); else *inconclusive* (warn);
4. power law preferred: ``dAIC >= LEAN_DELTA_AIC`` *trainable* (ok), else *inconclusive*.

The AIC thresholds are Burnham & Anderson's: ``dAIC > 2`` substantial, ``> 10`` decisive support.
Short of decisive, the reasons also give both laws extrapolated to ``EXTRAPOLATE_TO`` qubits,
which can differ by orders of magnitude: only larger sizes separate them.

Need for a quantum computer, from test accuracies on one train/test split of ``n_test`` states:
``E`` the exact (statevector) model, ``C`` the best classical learner on weight-``<= k`` Pauli
features estimated from ``T`` snapshots per state (the surrogate and the scikit-learn baseline
on the same features), ``R`` the surrogate on exact features (the ``T -> infinity`` reference),
``c`` chance (the majority-class fraction of the test set). With

* *learned*: ``x >= c + max(LEARNED_MARGIN, LEARNED_SIGMAS * sqrt(c (1 - c) / n_test))`` (the
  accuracy is outside the binomial spread of a coin flip),
* *matches*: ``x >= E - max(MATCH_MARGIN, MATCH_SIGMAS * sqrt(x(1-x)/n_test + E(1-E)/n_test))``,

the rules are, in order:

1. ``E`` known, ``C`` learned and matches ``E``: *classically simulable on this data* (warn: no
   quantum computer needed beyond collecting the snapshots);
2. ``E`` known, neither ``E`` nor ``C`` learned: *not learned by either model* (bad);
3. ``E`` learned, ``C`` does not match: with ``R`` learned and matching ``E`` *classically
   simulable with more snapshots* (warn: the gap is shot noise); else *needs the quantum model at
   this budget* (ok);
4. no ``E`` (no states, or a circuit too large): ``C`` learned *classically solvable from
   shadows* (warn), else *inconclusive* (warn).

Levels read as "does the quantum model earn its keep": ``ok`` it does something a classical
learner of its local measurements does not, ``warn`` it can be replaced (or nothing can be
said), ``bad`` nothing learns the task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qnnlab.analysis.fits import DECISIVE_DELTA_AIC, ScalingFits, fit_scaling
from qnnlab.analysis.variance import CHUNK_BYTES, SLICES_KERNEL_ABOVE, sample_statistics

#: Fewest qubit counts for the exponential vs power-law comparison (two 2-parameter fits).
MIN_SIZES = 3
#: ``dAIC`` from which one fit is preferred with substantial support (Burnham & Anderson).
LEAN_DELTA_AIC = 2.0
#: Standard errors by which the exponential base must sit below 1 for the decay to count.
SIGNIFICANCE_SIGMAS = 2.0
#: Largest error of the base ``b`` for which "no significant decay" means flat, not noisy.
MAX_FLAT_BASE_ERR = 0.05
#: Variances at or below this count as zero: the rounding floor of ``complex64`` gradients of a
#: bounded observable (~1e-7 per component). A parameter outside the observable's backward light
#: cone, or acting trivially on ``|0>``, lands here.
ZERO_VARIANCE = 1e-12
#: Qubit count the fitted laws are extrapolated to in the verdict.
EXTRAPOLATE_TO = 100

#: An accuracy is "learned" at least this far above chance ...
LEARNED_MARGIN = 0.10
#: ... and at least this many binomial standard errors of a coin flip above it.
LEARNED_SIGMAS = 2.0
#: A classical accuracy "matches" the exact model within this many points ...
MATCH_MARGIN = 0.05
#: ... or within this many standard errors of the difference of two test accuracies (two:
#: equality is not rejected at about the 5 % level).
MATCH_SIGMAS = 2.0

LEVELS = ("ok", "warn", "bad")


# ---------------------------------------------------------------------------------------------
# gradients


def gradient_draws(circuit, observable, *, draws: int, seed: int, dtype="complex64") -> np.ndarray:
    """``(draws, n_params)`` gradients ``dC/dtheta`` of ``C = <O>`` on input ``|0..0>`` at
    ``theta ~ U[0, 2 pi)^P`` (module docstring: the same draws as ``gradient_samples``).

    Reverse mode through the statevector engine's adjoint method (two registers per draw), the
    draws vmapped in chunks of about ``CHUNK_BYTES`` of state run in one compiled ``lax.map``.
    """
    import jax
    import jax.numpy as jnp

    from qnnlab.engines.statevector import StatevectorEngine

    if draws < 4:
        raise ValueError(f"need at least 4 draws to estimate a variance, got {draws}.")
    kernel = "slices" if draws * 2**circuit.n_qubits > SLICES_KERNEL_ABOVE else "dot"
    engine = StatevectorEngine(circuit, dtype=dtype, diff_method="adjoint", kernel=kernel)
    expval = engine.expval_fn(observable)
    k = len(circuit.input_qubits)
    psi0 = jnp.zeros((1, 2**k), dtype=engine.dtype).at[0, 0].set(1)
    grad = jax.grad(lambda theta: expval(theta, psi0)[0])
    key = jax.random.fold_in(jax.random.key(seed), circuit.n_qubits)
    real = engine.real_dtype
    thetas = jax.random.uniform(key, (draws, circuit.n_params), dtype=real, maxval=2 * math.pi)
    state_bytes = (2**circuit.n_qubits) * 2 * jnp.dtype(real).itemsize
    chunk = int(min(max(8, CHUNK_BYTES // state_bytes), draws))
    n_chunks = -(-draws // chunk)
    padded = jnp.concatenate([thetas, thetas[: n_chunks * chunk - draws]])
    run = jax.jit(lambda t: jax.lax.map(jax.vmap(grad), t))
    out = run(padded.reshape(n_chunks, chunk, circuit.n_params))
    return np.asarray(out, dtype=np.float64).reshape(-1, circuit.n_params)[:draws]


def gradient_statistics(grads: np.ndarray, param_index: int = 0) -> dict:
    """Statistics of a ``(draws, P)`` gradient table (module docstring): the tracked
    parameter's ``variance``, ``stderr``, ``mean``, ``kurtosis``; ``mean_variance`` over all
    parameters with ``mean_variance_stderr``; ``zero_fraction`` of parameters whose variance is
    at most ``ZERO_VARIANCE``."""
    g = np.asarray(grads, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] < 4 or g.shape[1] < 1:
        raise ValueError(f"need a (draws >= 4, n_params >= 1) gradient table, got {g.shape}.")
    if isinstance(param_index, bool) or not isinstance(param_index, int | np.integer):
        raise ValueError(f"param_index must be an integer, got {param_index!r}.")
    if not 0 <= param_index < g.shape[1]:
        raise ValueError(
            f"param_index {param_index} is out of range: the model has {g.shape[1]} parameters "
            f"(use 0..{g.shape[1] - 1})."
        )
    var, se, mean, _se_mean, kurt = sample_statistics(g[:, param_index])
    centred = g - g.mean(axis=0)
    h = np.mean(centred**2, axis=1) * g.shape[0] / (g.shape[0] - 1)
    zero = g.var(axis=0, ddof=1) <= ZERO_VARIANCE
    return {
        "variance": var,
        "stderr": se,
        "mean": mean,
        "kurtosis": kurt,
        "mean_variance": float(h.mean()),
        "mean_variance_stderr": float(h.std(ddof=1) / math.sqrt(len(h))),
        "zero_fraction": float(zero.mean()),
    }


def shots_to_resolve(variance: float) -> float:
    """``1 / (2 Var)``: shots per expectation value at which parameter-shift noise equals a
    typical gradient component (module docstring); ``inf`` for a zero variance."""
    return math.inf if not variance > 0 else 1.0 / (2.0 * variance)


# ---------------------------------------------------------------------------------------------
# findings


@dataclass(frozen=True)
class Finding:
    """One answer of the audit: ``level`` (``ok``/``warn``/``bad``), a short ``label`` and the
    ``reasons`` with their numbers; ``rule`` names the rule that fired (module docstring)."""

    level: str
    label: str
    reasons: tuple[str, ...]
    rule: str
    numbers: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}.")

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "label": self.label,
            "reasons": list(self.reasons),
            "rule": self.rule,
            "numbers": self.numbers,
        }

    def __str__(self) -> str:
        return f"{self.label}: {self.reasons[0]}" if self.reasons else self.label


def _g(x: float) -> str:
    return f"{x:.3g}"


def _extrapolation(fits: ScalingFits, n: int) -> dict:
    """Both fitted laws at ``n`` (``inf`` where a growing fit overflows) and the shots."""
    out = {}
    for model in ("exponential", "power_law"):
        with np.errstate(over="ignore"):
            value = float(fits.predict(model, n))
        out[model] = {"variance": value, "shots": shots_to_resolve(value)}
    return out


def assess_trainability(
    qubits, variance, stderr, *, what: str = "Var[dC/dθ]", extrapolate_to: int = EXTRAPOLATE_TO
) -> tuple[Finding, ScalingFits | None]:
    """The trainability rule (module docstring) for ``variance(qubits)`` with ``stderr``.

    Returns the finding and the fits (``None`` with fewer than ``MIN_SIZES`` sizes or a
    non-positive variance). ``what`` names the series in the reasons.
    """
    n = [int(q) for q in qubits]
    v = [float(x) for x in variance]
    se = [float(x) for x in stderr]
    span = f"n = {n[0]}..{n[-1]}" if len(n) > 1 else f"n = {n[0]}" if n else "no size"
    if len(n) < MIN_SIZES:
        shots = [
            f"{what} = {_g(x)} at n = {q} (≥ {_g(shots_to_resolve(x))} shots per expectation "
            "value to resolve a typical gradient)"
            for q, x in zip(n, v, strict=True)
        ]
        return (
            Finding(
                "warn",
                "Scaling not assessed",
                (
                    f"only {len(n)} qubit count(s) ({span}); the exponential vs power-law "
                    f"comparison needs at least {MIN_SIZES}: give a model spec or a builder "
                    "n -> Circuit instead of a fixed circuit",
                    *shots,
                ),
                "too-few-sizes",
                {"qubits": n, "variance": v},
            ),
            None,
        )
    if any(not x > ZERO_VARIANCE for x in v) or any(not s > 0 for s in se):
        return (
            Finding(
                "warn",
                "Scaling not assessed",
                (
                    f"{what} is zero (or has a zero error bar) at some size in {span}: no "
                    "logarithmic fit is possible",
                ),
                "zero-variance",
                {"qubits": n, "variance": v},
            ),
            None,
        )
    fits = fit_scaling(n, v, se)
    b, b_err = fits.decay_base, fits.decay_base * fits.exponential.slope_err
    p, p_err = fits.power, fits.power_law.slope_err
    best = fits.exponential if fits.better == "exponential" else fits.power_law
    overdispersion = max(1.0, best.chi2 / best.dof) if best.dof > 0 else 1.0
    d = fits.delta_aic / overdispersion
    ext = _extrapolation(fits, extrapolate_to)
    numbers = {
        "b": b,
        "b_err": b_err,
        "p": p,
        "p_err": p_err,
        "delta_aic": d,
        "delta_aic_raw": fits.delta_aic,
        "overdispersion": overdispersion,
        "better": fits.better,
        "extrapolated_to": extrapolate_to,
        "extrapolation": ext,
    }
    exp_text = f"Var ~ {b:.3g}^n (b = {b:.3g} ± {b_err:.2g})"
    pow_text = f"Var ~ n^-{p:.3g} (p = {p:.3g} ± {p_err:.2g})"

    def extrapolated(model: str) -> str:
        e = ext[model]
        return f"Var ≈ {e['variance']:.2g} (≥ {e['shots']:.2g} shots per expectation value)"

    if b + SIGNIFICANCE_SIGMAS * b_err >= 1.0:
        if b_err <= MAX_FLAT_BASE_ERR:
            level, label, rule = "ok", "No barren plateau: no significant decay", "no-decay"
            first = (
                f"{what} does not decay significantly over {span}: {exp_text}, within "
                f"{SIGNIFICANCE_SIGMAS:g} standard errors of 1"
            )
        else:
            level, label, rule = "warn", "Trainability inconclusive", "noisy"
            first = (
                f"{what} over {span} is too noisy to tell ({exp_text}): use more draws or more "
                "qubit counts"
            )
        return Finding(level, label, (first,), rule, numbers), fits
    evidence = f"ΔAIC = {d:.3g}"
    if overdispersion > 1.0:
        evidence += f", the χ² difference over the overdispersion {overdispersion:.2g}"
    if fits.better == "exponential" and d > DECISIVE_DELTA_AIC:
        level, label, rule = "bad", "Barren plateau", "exponential-decisive"
        first = (
            f"{what} decays exponentially over {span}: {exp_text}; the exponential fit is "
            f"decisively better than a power law ({evidence} > {DECISIVE_DELTA_AIC:g})"
        )
    elif fits.better == "exponential" and d >= LEAN_DELTA_AIC:
        level, label, rule = "warn", "Likely barren plateau", "exponential-substantial"
        first = (
            f"{what} over {span} is better described by exponential decay, {exp_text}, than by "
            f"a power law, {pow_text} ({evidence}: substantial, not decisive)"
        )
    elif fits.better == "power_law" and d >= LEAN_DELTA_AIC:
        level, label, rule = "ok", "Trainable: polynomial decay", "power-law"
        strength = "decisively" if d > DECISIVE_DELTA_AIC else "substantially"
        first = (
            f"{what} decays as a power law over {span}: {pow_text}; it fits {strength} better "
            f"than exponential decay, {exp_text} ({evidence})"
        )
    else:
        level, label, rule = "warn", "Trainability inconclusive", "inconclusive"
        first = (
            f"over {span} both laws describe {what}: exponential {exp_text}, power law "
            f"{pow_text} ({evidence} < {LEAN_DELTA_AIC:g})"
        )
    if d > DECISIVE_DELTA_AIC:
        second = f"extrapolated to n = {extrapolate_to}: {extrapolated(fits.better)}"
    else:
        e, q = ext["exponential"], ext["power_law"]
        second = (
            f"extrapolated to n = {extrapolate_to} the exponential law gives Var ≈ "
            f"{e['variance']:.2g} (≥ {e['shots']:.2g} shots per expectation value), the power "
            f"law Var ≈ {q['variance']:.2g} (≥ {q['shots']:.2g} shots): only larger sizes or more "
            "draws tell them apart"
        )
    return Finding(level, label, (first, second), rule, numbers), fits


def learned_threshold(chance: float, n_test: int) -> float:
    """Smallest accuracy that counts as learned (module docstring)."""
    spread = LEARNED_SIGMAS * math.sqrt(chance * (1.0 - chance) / max(n_test, 1))
    return chance + max(LEARNED_MARGIN, spread)


def match_tolerance(a: float, b: float, n_test: int) -> float:
    """How far below ``b`` an accuracy ``a`` may be and still match it (module docstring)."""
    se = math.sqrt((a * (1.0 - a) + b * (1.0 - b)) / max(n_test, 1))
    return max(MATCH_MARGIN, MATCH_SIGMAS * se)


def assess_simulability(
    *,
    exact: float | None,
    classical: float | None,
    chance: float,
    n_test: int,
    snapshots: int,
    max_weight: int,
    classical_name: str = "classical learner",
    reference: float | None = None,
    exact_train: float | None = None,
    exact_reason: str | None = None,
    n_states: int | None = None,
) -> Finding:
    """The rule for "does it need a quantum computer" (module docstring).

    Args:
        exact: test accuracy of the exact model, ``None`` when it was not run
            (``exact_reason`` says why).
        classical: best test accuracy of the classical learners on weight-``<= max_weight``
            features from ``snapshots`` snapshots per state (``classical_name`` names it);
            ``None`` when no classical learner ran.
        chance: majority-class fraction of the test set; ``n_test`` its size.
        reference: the surrogate's test accuracy on exact features, if computed.
        exact_train: the exact model's training accuracy (reported when nothing learns).
        n_states: states measured (for the total number of snapshots).
    """
    k, T = int(max_weight), int(snapshots)
    bar = learned_threshold(chance, n_test)
    numbers = {
        "exact": exact,
        "classical": classical,
        "reference": reference,
        "chance": chance,
        "learned_threshold": bar,
        "n_test": n_test,
        "snapshots": T,
        "max_weight": k,
    }
    if classical is None:
        return Finding(
            "warn",
            "Not assessed: no data",
            ("no dataset was given, so no classical learner could be compared with the model",),
            "no-data",
            numbers,
        )
    total = f" ({T * n_states:,} single-shot measurements in all)" if n_states else ""
    feats = f"weight-≤{k} Pauli features from {T:,} snapshots per state"
    if exact is None:
        why = f" ({exact_reason})" if exact_reason else ""
        if classical >= bar:
            return Finding(
                "warn",
                "Classically solvable from shadows",
                (
                    f"a {classical_name} on {feats} reaches {classical:.2f} test accuracy "
                    f"(chance {chance:.2f}, learned from {bar:.2f})",
                    f"the exact model was not run{why}, but this task does not need a quantum "
                    f"model beyond collecting the snapshots{total}",
                ),
                "classical-only-learned",
                numbers,
            )
        return Finding(
            "warn",
            "Inconclusive: classical learners at chance",
            (
                f"the best {classical_name} on {feats} reaches only {classical:.2f} (chance "
                f"{chance:.2f}, learned from {bar:.2f})",
                f"the exact model was not run{why}, so whether the quantum model does better is "
                "unknown",
            ),
            "classical-only-chance",
            numbers,
        )
    tol = match_tolerance(classical, exact, n_test)
    numbers["match_tolerance"] = tol
    if classical >= bar and classical >= exact - tol:
        ahead = (
            f"; the classical learner is ahead by {classical - exact:.2f}"
            if classical > exact + tol
            else ""
        )
        return Finding(
            "warn",
            "Classically simulable on this data",
            (
                f"a {classical_name} on {feats} reaches {classical:.2f} test accuracy vs "
                f"{exact:.2f} for the exact model (within the tolerance {tol:.2f}){ahead}",
                "a quantum computer is not needed for this task beyond collecting the "
                f"snapshots{total}",
            ),
            "classical-matches",
            numbers,
        )
    if exact < bar and classical < bar:
        train = (
            f"; it fits its training states to {exact_train:.2f}, so it overfits"
            if exact_train is not None and exact_train >= bar
            else ""
        )
        return Finding(
            "bad",
            "Not learned by either model",
            (
                f"the exact model reaches {exact:.2f} test accuracy and the best "
                f"{classical_name} on {feats} {classical:.2f}: both below the learned "
                f"threshold {bar:.2f} (chance {chance:.2f}){train}",
                f"the labels may depend on non-local information that weight-≤{k} features do "
                "not see and that the model does not learn at this size",
            ),
            "nothing-learned",
            numbers,
        )
    if reference is not None and reference >= bar:
        ref_tol = match_tolerance(reference, exact, n_test)
        if reference >= exact - ref_tol:
            return Finding(
                "warn",
                "Classically simulable with more snapshots",
                (
                    f"from {T:,} snapshots per state the best {classical_name} reaches only "
                    f"{classical:.2f} vs {exact:.2f} for the exact model",
                    f"with exact weight-≤{k} features the surrogate reaches {reference:.2f}, "
                    f"which matches the exact model: the gap is shot noise in the features; "
                    "a larger shots budget would close it",
                ),
                "reference-matches",
                numbers,
            )
    ref = (
        f"; even on exact weight-≤{k} features the surrogate reaches only {reference:.2f}"
        if reference is not None
        else ""
    )
    return Finding(
        "ok",
        "Needs the quantum model at this budget",
        (
            f"the exact model reaches {exact:.2f} test accuracy but the best {classical_name} "
            f"on {feats} only {classical:.2f} (tolerance {tol:.2f}){ref}",
            f"the model uses information beyond weight-≤{k} Pauli features: a classical learner "
            f"with k ≤ {k} cannot replace it at this budget (try a larger max weight or "
            "shots budget to be sure)",
        ),
        "quantum-ahead",
        numbers,
    )


def summary_sentence(trainability: Finding, simulability: Finding) -> str:
    """One plain sentence joining both findings and their first reasons."""

    def part(f: Finding) -> str:
        return f"{f.label}: {f.reasons[0]}" if f.reasons else f.label

    return f"{part(trainability)}. {part(simulability)}."
