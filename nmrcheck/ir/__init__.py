"""The solver-agnostic intermediate representation: no z3, no networkx, no NMR words."""

from nmrcheck.ir import expr
from nmrcheck.ir.system import (
    EVENTUALLY,
    INVARIANT,
    LEADS_TO,
    LIVENESS_KINDS,
    REACHABLE,
    STRONG,
    WEAK,
    Action,
    Fairness,
    InstanceGroup,
    Property,
    Slot,
    TransitionSystem,
    Var,
)
from nmrcheck.ir.walkers import evaluate, free_vars, substitute, to_python, to_text

__all__ = [
    "EVENTUALLY",
    "INVARIANT",
    "LEADS_TO",
    "LIVENESS_KINDS",
    "REACHABLE",
    "STRONG",
    "WEAK",
    "Action",
    "Fairness",
    "InstanceGroup",
    "Property",
    "Slot",
    "TransitionSystem",
    "Var",
    "evaluate",
    "expr",
    "free_vars",
    "substitute",
    "to_python",
    "to_text",
]
