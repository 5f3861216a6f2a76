"""A solver-agnostic transition system: typed finite variables, guarded actions, properties.

A state is a tuple of ints, one per variable, in declaration order. An action is enabled in a
state where its guard holds; firing it assigns every updated variable in parallel (the others
keep their values). The system has exactly one initial state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nmrcheck.errors import InternalError
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.walkers import evaluate, free_vars

INVARIANT = "invariant"
REACHABLE = "reachable"
EVENTUALLY = "eventually"  # on every fair run, ``expr`` holds at some point
LEADS_TO = "leads_to"  # on every fair run, every ``expr`` state is followed by a ``target`` one
SAFETY_KINDS = (INVARIANT, REACHABLE)
LIVENESS_KINDS = (EVENTUALLY, LEADS_TO)
PROPERTY_KINDS = SAFETY_KINDS + LIVENESS_KINDS

WEAK = "weak"  # a group continuously enabled from some point on is eventually taken
STRONG = "strong"  # a group enabled infinitely often is taken infinitely often


@dataclass(frozen=True)
class Var:
    """A state variable with a finite domain ``lo..hi``; ``labels`` name enum values from ``lo``."""

    name: str
    type: str  # E.BOOL or E.INT
    lo: int
    hi: int
    init: int
    labels: tuple[str, ...] | None = None

    def show(self, value: int) -> str:
        """The value as a person reads it (enum label, true/false, or a number)."""
        if self.labels is not None and self.lo <= value <= self.hi:
            return self.labels[value - self.lo]
        if self.type == E.BOOL:
            return "true" if value else "false"
        return str(value)

    @property
    def bits(self) -> int:
        return max(1, (self.hi - self.lo).bit_length())


@dataclass(frozen=True)
class Action:
    """A guarded, labelled transition. ``slot`` is the owning thread, or -1 for the environment."""

    label: str
    guard: Expr
    updates: tuple[tuple[int, Expr], ...]
    slot: int = -1
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Slot:
    """A thread of control: its program counter variable and the value meaning "not running"."""

    name: str
    pc: int
    idle: int
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Property:
    """A property over states: an invariant (holds everywhere), reachable (holds somewhere),
    or a liveness property over the fair runs.

    ``eventually``: ``expr`` holds at some point of every fair run. ``leads_to``: on every fair
    run, every state where ``expr`` holds is followed (or accompanied) by one where ``target``
    holds. A ``leads_to`` with ``parts`` is the conjunction of its parts (one per instance of
    a top-level ``forall``, each a ``leads_to`` named ``NAME[x]``); its own ``expr`` is then
    the disjunction of their triggers and its ``target`` is unused.
    """

    name: str
    kind: str
    expr: Expr
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    target: Expr | None = None
    parts: tuple[Property, ...] = ()

    def instances(self) -> tuple[Property, ...]:
        """The properties an engine checks for this one: its parts, or itself."""
        return self.parts or (self,)


@dataclass(frozen=True)
class Fairness:
    """A fairness assumption on the runs that liveness properties quantify over.

    The group is *enabled* in a state where one of its ``actions`` is, and *taken* by a step
    that fires one of them. ``weak``: a run on which the group is enabled continuously from
    some point on takes it infinitely often. ``strong``: a run on which it is enabled
    infinitely often takes it infinitely often.
    """

    name: str
    kind: str  # WEAK or STRONG
    actions: tuple[int, ...]


@dataclass(frozen=True)
class InstanceGroup:
    """The interchangeable instances of one replicated driver (``driver X[N]``).

    ``instances`` are the instance names (``X[1]`` .. ``X[N]``); every variable, slot and
    enum label naming ``X[i]`` belongs to instance ``i``. Engines may use the group for
    symmetry reduction only after checking that permuting the instances maps the system onto
    itself (nmrcheck/engines/explicit/symmetry.py).
    """

    driver: str
    instances: tuple[str, ...]

    @property
    def mention(self) -> re.Pattern[str]:
        """Where a name or label mentions an instance, ``X[i]`` (group 1: ``i``)."""
        return re.compile(r"(?<![A-Za-z0-9_])" + re.escape(self.driver) + r"\[(\d+)\]")


@dataclass
class TransitionSystem:
    """Variables, one initial state, actions, slots and properties.

    ``halted`` marks crashed states: engines neither expand them nor count them as hangs.
    """

    vars: list[Var] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    halted: Expr = E.FALSE
    fairness: list[Fairness] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    groups: list[InstanceGroup] = field(default_factory=list)  # replicated drivers
    # the same design with at most k instances per replicated driver, built by the front end
    # that compiled this system (None: it cannot); proof engines read facts off it
    resize: Callable[[int], TransitionSystem | None] | None = field(
        default=None, repr=False, compare=False)
    _names: dict[str, int] = field(default_factory=dict, repr=False)

    # -- construction -------------------------------------------------------------------
    def add_var(
        self,
        name: str,
        lo: int,
        hi: int,
        init: int,
        *,
        type: str = E.INT,
        labels: Sequence[str] | None = None,
    ) -> Expr:
        """Declare a variable and return the expression that reads it."""
        if name in self._names:
            raise InternalError(f"variable {name!r} declared twice")
        if not lo <= init <= hi:
            raise InternalError(f"initial value {init} of {name!r} is outside {lo}..{hi}")
        if labels is not None and len(labels) != hi - lo + 1:
            raise InternalError(f"enum {name!r} needs {hi - lo + 1} labels")
        self._names[name] = len(self.vars)
        self.vars.append(Var(name, type, lo, hi, init, tuple(labels) if labels else None))
        return E.var(len(self.vars) - 1, type)

    def add_bool(self, name: str, init: bool = False) -> Expr:
        return self.add_var(name, 0, 1, int(init), type=E.BOOL)

    def add_enum(self, name: str, labels: Sequence[str], init: str | int = 0) -> Expr:
        value = labels.index(init) if isinstance(init, str) else init
        return self.add_var(name, 0, len(labels) - 1, value, labels=labels)

    def index(self, name: str) -> int:
        return self._names[name]

    def var_expr(self, name: str) -> Expr:
        i = self._names[name]
        return E.var(i, self.vars[i].type)

    # -- reading ------------------------------------------------------------------------
    def initial_state(self) -> tuple[int, ...]:
        return tuple(v.init for v in self.vars)

    def enabled(self, state: Sequence[int]) -> list[int]:
        """Indices of the actions enabled in ``state`` (none if it is halted)."""
        if evaluate(self.halted, state):
            return []
        return [i for i, a in enumerate(self.actions) if evaluate(a.guard, state)]

    def fire(self, action: int, state: Sequence[int]) -> tuple[int, ...]:
        """The successor of ``state`` under action ``action`` (which must be enabled)."""
        a = self.actions[action]
        out = list(state)
        for i, e in a.updates:
            out[i] = evaluate(e, state)
        return tuple(out)

    def name_of(self, i: int) -> str:
        return self.vars[i].name

    def show_state(self, state: Sequence[int]) -> dict[str, str]:
        return {v.name: v.show(x) for v, x in zip(self.vars, state)}

    def validate(self) -> None:
        """Check internal consistency (types, indices); raises InternalError."""
        n = len(self.vars)
        for a in self.actions:
            if a.guard.type != E.BOOL:
                raise InternalError(f"guard of {a.label!r} is not boolean")
            seen: set[int] = set()
            for i, e in a.updates:
                if not 0 <= i < n or i in seen:
                    raise InternalError(f"bad update target {i} in {a.label!r}")
                seen.add(i)
                if max(free_vars(e), default=-1) >= n:
                    raise InternalError(f"update of {a.label!r} reads an unknown variable")
        for p in self.properties:
            _check_property(p, n)
        for f in self.fairness:
            if f.kind not in (WEAK, STRONG):
                raise InternalError(f"bad fairness kind {f.kind!r} of {f.name!r}")
            if any(not 0 <= a < len(self.actions) for a in f.actions):
                raise InternalError(f"fairness group {f.name!r} names an unknown action")


def _check_property(p: Property, nvars: int) -> None:
    if p.kind not in PROPERTY_KINDS or p.expr.type != E.BOOL:
        raise InternalError(f"bad property {p.name!r}")
    if max(free_vars(p.expr), default=-1) >= nvars:
        raise InternalError(f"property {p.name!r} reads an unknown variable")
    if p.kind == LEADS_TO:
        if p.parts:
            for q in p.parts:
                if q.kind != LEADS_TO or q.parts:
                    raise InternalError(f"bad part {q.name!r} of {p.name!r}")
                _check_property(q, nvars)
        elif p.target is None or p.target.type != E.BOOL:
            raise InternalError(f"leads_to {p.name!r} needs a boolean target")
        elif max(free_vars(p.target), default=-1) >= nvars:
            raise InternalError(f"property {p.name!r} reads an unknown variable")
    elif p.target is not None or p.parts:
        raise InternalError(f"only a leads_to property has a target: {p.name!r}")
