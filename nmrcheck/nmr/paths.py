"""Symbolic paths through one atomic step, and the small type system of model expressions."""

from __future__ import annotations

from dataclasses import dataclass, field

from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.lang import ast as A


@dataclass(frozen=True)
class Ty:
    """A model type: bool, a bounded int, or an enum (NTSTATUS is an enum)."""

    kind: str  # "bool" "int" "enum"
    lo: int = 0
    hi: int = 1
    labels: tuple[str, ...] = ()
    name: str = ""

    def __str__(self) -> str:
        if self.kind == "enum":
            return self.name or "{" + ", ".join(self.labels) + "}"
        if self.kind == "int":
            return f"{self.lo}..{self.hi}"
        return "bool"


BOOL = Ty("bool", 0, 1)


@dataclass
class Path:
    """One way through a step: the condition so far, the new values, and what was said.

    ``env`` maps a variable index to its new value, as an expression over the pre-state.
    """

    guard: Expr = E.TRUE
    env: dict[int, Expr] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fault: str | None = None
    fault_msg: str = ""
    fault_pos: A.Pos | None = None
    status: str | None = None  # what the step returned, for the trace
    flags: list[tuple[str, str, A.Pos | None]] = field(default_factory=list)
    locks_checked: bool = False  # the held-locks check at a routine's return is done
    # reads that may break a rule (a variable unassigned, or in freed memory):
    # (condition, rule, message, where)
    uninit: list[tuple[Expr, str, str, A.Pos]] = field(default_factory=list)
    at: A.Pos | None = None  # the statement that runs in this step (past the ifs it took)
    ref: Expr | None = None  # the thread holds a counted reference (None: as at the start)

    def read(self, index: int, typ: str) -> Expr:
        v = self.env.get(index)
        return v if v is not None else E.var(index, typ)

    def fork(self) -> Path:
        return Path(
            self.guard,
            dict(self.env),
            list(self.notes),
            self.fault,
            self.fault_msg,
            self.fault_pos,
            self.status,
            list(self.flags),
            self.locks_checked,
            list(self.uninit),
            self.at,
            self.ref,
        )

    def split(self, cond: Expr) -> tuple[Path | None, Path | None]:
        """The paths where ``cond`` holds and where it does not (None when impossible)."""
        yes_g = E.and_(self.guard, cond)
        no_g = E.and_(self.guard, E.not_(cond))
        yes = no = None
        if yes_g is not E.FALSE:
            yes = self.fork()
            yes.guard = yes_g
        if no_g is not E.FALSE:
            no = self.fork()
            no.guard = no_g
        return yes, no

    def set(self, index: int, value: Expr) -> None:
        self.env[index] = value

    def fail(self, code: str, msg: str, pos: A.Pos | None) -> Path:
        """A violation that crashes the system: the step ends in a halted state."""
        self.fault, self.fault_msg, self.fault_pos = code, msg, pos
        return self

    def flag(self, code: str, msg: str, pos: A.Pos | None) -> Path:
        """A violation that is recorded while the system runs on (its harm comes later)."""
        self.flags.append((code, msg, pos))
        return self
