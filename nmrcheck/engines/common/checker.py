"""The one interface of every engine: ``Checker.check(ts, options) -> CheckResult``.

Every engine (explicit search, BMC, k-induction, PDR, lasso search) reads what it needs from
one typed, frozen :class:`Options`, answers the properties ``options.properties`` names (all
when empty), and returns a :class:`CheckResult`. Which engines run, in which order, and what
is handed from one to the next is decided in one place, :mod:`nmrcheck.engines.run`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol

from nmrcheck.engines.common.results import CheckResult
from nmrcheck.ir import LIVENESS_KINDS, Property, TransitionSystem


@dataclass(frozen=True)
class Limits:
    """When to stop early; a stop makes open properties ``unknown``."""

    max_states: int | None = None
    timeout: float | None = None
    max_memory_mb: int | None = None


@dataclass(frozen=True)
class Options:
    """How to check. Each engine reads the fields that concern it and ignores the rest."""

    limits: Limits = field(default_factory=Limits)
    depth: int = 40  # bound of bmc and lasso search, largest k of induction
    hangs: bool = True  # decide hang freedom (explicit search only)
    properties: tuple[str, ...] = ()  # only these (all when empty)
    symmetry: str = "auto"  # auto: reduce by replicated drivers where sound; off
    cores: int = 0  # processes the explicit engine may use: 1, or 0 for two where there are
    por: str = "off"  # partial-order reduction: auto, on (where sound) or off
    keep_going: bool = False  # decide every property, past the first violation
    dump_generated: str | None = None  # write the explicit engine's generated Python here
    progress: Callable[[dict], None] | None = None  # the search's progress reports
    notice: Callable[[str], None] | None = None  # tells the user what the run does next

    def wanted(self, ts: TransitionSystem) -> list[str]:
        """The names of the properties of ``ts`` to decide, in model order."""
        names = [p.name for p in ts.properties]
        return [n for n in names if n in self.properties] if self.properties else names


def restricted(ts: TransitionSystem, options: Options) -> TransitionSystem:
    """``ts`` with only the properties ``options`` names (``ts`` itself when it names none)."""
    if not options.properties:
        return ts
    return replace(ts, properties=[p for p in ts.properties if p.name in options.properties])


def liveness_properties(ts: TransitionSystem, names: Sequence[str] = ()) -> list[Property]:
    """The liveness properties of ``ts`` (only those in ``names`` when it is not empty)."""
    return [p for p in ts.properties if p.kind in LIVENESS_KINDS and (not names or p.name in names)]


def without_liveness(ts: TransitionSystem) -> TransitionSystem:
    """``ts`` with its safety properties only, for the engines that know nothing else (a
    shallow copy: variables, actions and metadata are shared)."""
    if not liveness_properties(ts):
        return ts
    return replace(ts, properties=[p for p in ts.properties if p.kind not in LIVENESS_KINDS])


class Checker(Protocol):
    """An engine."""

    name: ClassVar[str]

    def check(self, ts: TransitionSystem, options: Options) -> CheckResult:
        """Answer the properties of ``ts`` that ``options`` asks for."""
        ...
