"""The syntax tree of models and specs. Every node carries its source position."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# -- expressions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    pos: Pos


@dataclass(frozen=True)
class Num(Node):
    value: int


@dataclass(frozen=True)
class BoolLit(Node):
    value: bool


@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Str(Node):
    value: str


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "!" or "-"
    arg: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # "&&" "||" "=>" "==" "!=" "<" "<=" ">" ">=" "+" "-"
    left: Node
    right: Node


@dataclass(frozen=True)
class Member(Node):
    arg: Node
    labels: tuple[Name, ...]


@dataclass(frozen=True)
class Attr(Node):
    obj: Node
    name: str


@dataclass(frozen=True)
class Index(Node):
    obj: Node
    index: Node


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class SetLit(Node):
    labels: tuple[Name, ...]


@dataclass(frozen=True)
class Quant(Node):
    kind: str  # "forall" or "exists"
    var: str
    domain: Node
    body: Node


@dataclass(frozen=True)
class LeadsTo(Node):
    """``left ~> right``: allowed only at the top of a ``leads_to`` property (under forall)."""

    left: Node
    right: Node


# -- statements ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TypeRef(Node):
    kind: str  # "bool" "int" "enum" "status" "handle"
    lo: int = 0
    hi: int = 1
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assign(Node):
    target: str
    value: Node


@dataclass(frozen=True)
class LocalDecl(Node):
    name: str
    type: TypeRef
    init: Node | None


@dataclass(frozen=True)
class If(Node):
    cond: Node
    then: tuple[Node, ...]
    orelse: tuple[Node, ...] | None


@dataclass(frozen=True)
class While(Node):
    cond: Node
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Await(Node):
    cond: Node


@dataclass(frozen=True)
class Atomic(Node):
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Return(Node):
    value: Node | None


@dataclass(frozen=True)
class CallStmt(Node):
    call: Call


@dataclass(frozen=True)
class Skip(Node):
    pass


# -- declarations --------------------------------------------------------------------------
@dataclass(frozen=True)
class NpiDecl(Node):
    name: str


@dataclass(frozen=True)
class RegAttr(Node):
    """``NAME = VALUE`` in ``with (...)``: a constant of the registration instance that the
    peer can inspect in its attach callback (module id, NPI-specific data)."""

    name: str
    value: Node  # Num, BoolLit or Name (a label)


@dataclass(frozen=True)
class RegDecl(Node):
    role: str  # "client" or "provider"
    name: str
    npi: str
    deferred: bool
    attrs: tuple[RegAttr, ...] = ()


@dataclass(frozen=True)
class VarDecl(Node):
    name: str
    type: TypeRef
    init: Node | None
    per_binding: bool
    in_obj: str | None = None  # a field of a driver object (per binding: an array in it)


@dataclass(frozen=True)
class LockDecl(Node):
    name: str
    per_binding: bool
    passive: bool = False  # a push lock or mutex: PASSIVE_LEVEL only; a spin lock raises IRQL
    kind: str = "spinlock"  # lock, spinlock, pushlock, mutex or rwspinlock
    in_obj: str | None = None  # the object (``object O``) the lock lives in

    @property
    def shareable(self) -> bool:
        """Whether the lock can be taken shared (a push lock, an EX_SPIN_LOCK)."""
        return self.kind in ("pushlock", "rwspinlock")


@dataclass(frozen=True)
class PrimDecl(Node):
    """``[binding] rundown|refcount|event|object NAME [= INIT] [max N] [in OBJ]``."""

    kind: str  # "rundown", "refcount", "event", "syncevent" or "object"
    name: str
    per_binding: bool
    init: Node | None = None
    max: int | None = None
    in_obj: str | None = None


@dataclass(frozen=True)
class ProcDecl(Node):
    """``proc NAME(PARAMS) { ... }``: inlined at every call (nmrcheck.lang.procs)."""

    name: str
    params: tuple[str, ...]
    body: tuple[Node, ...]


@dataclass(frozen=True)
class OnDecl(Node):
    """``on C == K { ... }``: runs on the thread whose dereference(C) brings C to K."""

    name: str
    value: int
    body: tuple[Node, ...]


@dataclass(frozen=True)
class DispatchDecl(Node):
    """``dispatch NAME [for REG] { ... }``: a function of this driver's NPI dispatch table; the
    peer's ``npi_call(NAME)`` runs it on the caller's thread."""

    name: str
    reg: str | None
    body: tuple[Node, ...]


@dataclass(frozen=True)
class OptionDecl(Node):
    name: str
    value: str


@dataclass(frozen=True)
class Routine(Node):
    name: str
    reg: str | None  # "for REG": only for that registration's bindings
    body: tuple[Node, ...]
    when: Node | None = None  # Unload only: when the OS may call it (a spec expression)


@dataclass(frozen=True)
class TaskDecl(Node):
    name: str
    kind: str  # "task" (the environment starts it); queued by code: "workitem", "ioworkitem", "dpc"
    per_binding: bool
    reg: str | None
    when: Node | None
    body: tuple[Node, ...]
    irql: str | None = None  # declared with "at LEVEL"


@dataclass(frozen=True)
class FairDecl(Node):
    """``fair [strong] NAME``: fairness for task or work item ``NAME`` of the driver."""

    name: str
    strong: bool


@dataclass(frozen=True)
class DriverDecl(Node):
    name: str
    count: int
    regs: tuple[RegDecl, ...] = ()
    vars: tuple[VarDecl, ...] = ()
    locks: tuple[LockDecl, ...] = ()
    routines: tuple[Routine, ...] = ()
    tasks: tuple[TaskDecl, ...] = ()
    fairness: tuple[FairDecl, ...] = ()
    prims: tuple[PrimDecl, ...] = ()
    procs: tuple[ProcDecl, ...] = ()
    handlers: tuple[OnDecl, ...] = ()
    dispatch: tuple[DispatchDecl, ...] = ()


@dataclass(frozen=True)
class Model(Node):
    npis: tuple[NpiDecl, ...]
    drivers: tuple[DriverDecl, ...]
    source: str = field(default="", compare=False, repr=False)
    options: tuple[OptionDecl, ...] = ()
    props: tuple[PropDecl, ...] = ()


@dataclass(frozen=True)
class PropDecl(Node):
    kind: str  # "invariant", "reachable", "eventually" or "leads_to"
    name: str
    expr: Node


@dataclass(frozen=True)
class Spec(Node):
    props: tuple[PropDecl, ...]
    source: str = field(default="", compare=False, repr=False)


def statements(stmts: tuple[Node, ...]):
    """Every statement in ``stmts``, including those nested in if, while and atomic blocks."""
    stack = list(reversed(stmts))
    while stack:
        s = stack.pop()
        yield s
        for attr in ("orelse", "then", "body"):
            sub = getattr(s, attr, None)
            if sub:
                stack.extend(reversed(sub))


def calls(stmts: tuple[Node, ...]):
    """Every call made as a statement or as the value of an assignment, in ``stmts``."""
    for s in statements(stmts):
        if isinstance(s, CallStmt):
            yield s.call
        elif isinstance(s, Assign) and isinstance(s.value, Call):
            yield s.value
        elif isinstance(s, LocalDecl) and isinstance(s.init, Call):
            yield s.init
