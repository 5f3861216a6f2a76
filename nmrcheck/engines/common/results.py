"""What an engine answers for each property; shared by every engine and every renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nmrcheck.ir.trace import Trace

HANG = "no_hang"  # the name of hang freedom: no routine is ever blocked forever

# Verdicts (the project's vocabulary).
HOLDS = "holds"  # exhaustive search or proof: coverage says which
HOLDS_BOUNDED = "holds up to bound"  # bounded search found nothing up to `bound`
VIOLATED = "violated"
UNKNOWN = "unknown"  # a limit was reached or the solver said unknown: `reason` says which
WITNESSED = "witnessed"  # a reachable property: a trace reaches it
UNREACHABLE = "unreachable"  # a reachable property: exhaustively shown unreachable
PROOF_FAILED = "proof failed"  # induction step failed: not a bug, `trace` is the CTI

# Coverage of a result.
EXHAUSTIVE = "exhaustive"  # every reachable state explored
PROVED = "proved"  # unbounded proof with a re-checked certificate
BOUNDED = "bounded"  # every run up to `bound` steps
PARTIAL = "partial"  # a limit cut the search short


@dataclass
class PropertyResult:
    """The answer for one property."""

    property: str
    verdict: str
    engine: str
    coverage: str = EXHAUSTIVE
    bound: int | None = None
    trace: Trace | None = None
    reason: str = ""
    certificate: Any = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def is_failure(self) -> bool:
        """True when the property is broken (a violation, or a hang)."""
        return self.verdict == VIOLATED

    @property
    def is_inconclusive(self) -> bool:
        return self.verdict in (UNKNOWN, PROOF_FAILED)


@dataclass
class CheckResult:
    """All the answers of one run, with the search statistics."""

    results: list[PropertyResult]
    engine: str
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 all hold, 1 a property is violated, 3 inconclusive."""
        if any(r.is_failure for r in self.results):
            return 1
        if any(r.is_inconclusive or r.verdict == HOLDS_BOUNDED for r in self.results):
            return 3
        return 0
