"""Training building blocks: costs (and, later, losses, metrics and the fit loop)."""

from qnnlab.training.costs import (
    COSTS,
    AffineCost,
    build_cost,
    global_fidelity_cost,
    local_fidelity_cost,
)

__all__ = ["COSTS", "AffineCost", "build_cost", "global_fidelity_cost", "local_fidelity_cost"]
