"""Classical shadows: random Pauli-basis snapshots of pure states and their estimators.

Huang, Kueng, Preskill, "Predicting many properties of a quantum system from very few
measurements", Nat. Phys. 16, 1050 (2020), arXiv:2002.08953.

- :mod:`~qnnlab.shadows.snapshots`: :class:`ClassicalShadow` (``bits``/``recipes`` in
  PennyLane's layout), files, slicing, concatenation.
- :mod:`~qnnlab.shadows.sampling`: :func:`sample_shadow`, exact sampling from a dense vector or
  a right-canonical MPS.
- :mod:`~qnnlab.shadows.estimators`: :func:`estimate` (median of means with the shadow-norm
  bound), :func:`estimate_table` (every string of a packed
  :class:`~qnnlab.circuits.pauli_table.PauliTable` at once), :func:`estimate_tables` (the same
  for one shadow per state), :func:`local_pauli_features` (all geometrically local Pauli
  strings at once).
- :mod:`~qnnlab.shadows.histogram`: the support histograms behind :func:`estimate_table`
  (Numba, loaded on first use).

Example:
    >>> from qnnlab.data.mps import random_mps
    >>> shadow = sample_shadow(random_mps(20, 8, seed=0), 2000, seed=1)
    >>> est = estimate(shadow, "X3 Z4")
    >>> features = local_pauli_features(shadow, max_weight=2)
"""

from qnnlab.shadows.estimators import (
    BatchTableEstimates,
    Estimate,
    LocalPauliFeatures,
    TableEstimates,
    default_groups,
    estimate,
    estimate_table,
    estimate_tables,
    local_pauli_features,
    local_pauli_strings,
    local_pauli_table,
    median_of_means,
    mom_confidence,
    mom_error_bound,
    pauli_snapshot_values,
    shadow_norm_bound,
    snapshot_values,
)
from qnnlab.shadows.sampling import sample_shadow
from qnnlab.shadows.snapshots import (
    BASES,
    FORMAT_VERSION,
    ClassicalShadow,
    ShadowFormatError,
    concatenate,
)

__all__ = [
    "BASES",
    "FORMAT_VERSION",
    "BatchTableEstimates",
    "ClassicalShadow",
    "Estimate",
    "LocalPauliFeatures",
    "ShadowFormatError",
    "TableEstimates",
    "concatenate",
    "default_groups",
    "estimate",
    "estimate_table",
    "estimate_tables",
    "local_pauli_features",
    "local_pauli_strings",
    "local_pauli_table",
    "median_of_means",
    "mom_confidence",
    "mom_error_bound",
    "pauli_snapshot_values",
    "sample_shadow",
    "shadow_norm_bound",
    "snapshot_values",
]
