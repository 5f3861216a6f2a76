"""The state of one compilation, shared by every pass of nmrcheck.nmr: the :class:`Compiler`
(the TransitionSystem being built, its variables and the tables the passes fill, and the
helpers that read and declare them), the threads of control (slots) and scopes, the places
where control rests between steps, the kernel primitives' variables, and what the statement
compilers see of the routine being compiled (:class:`RoutineContext`).

It imports no other compilation pass: the passes (api, prims, lifetimes, threads, irql, the
expressions and built-in statements, routines, build) import it, and compile.py, at the top,
runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from nmrcheck.errors import Finding
from nmrcheck.ir import Action, TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.lang import ast as A
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.design import BindingInst, Design, DriverInst, suggest
from nmrcheck.nmr.options import KNOBS
from nmrcheck.nmr.paths import BOOL, Path, Ty

MAX_INT_SPAN = 1 << 16
STATUS_TY = Ty("enum", 0, len(V.STATUSES) - 1, V.STATUSES, "NTSTATUS")


def _c(v: int) -> Expr:
    return E.const(v)


@dataclass
class SlotInfo:
    """A thread of control while it is being compiled."""

    id: int
    owner: str  # who runs here, e.g. "Client[1]" or "Client[1].Cli~P.Prov/client"
    actor: str  # the driver instance
    pc: int
    binding: str | None = None
    thread_var: int | None = None  # binding callback slots: 0 own thread, else caller id + 1
    idle: int = 0
    labels: list[str] = field(default_factory=lambda: ["idle"])
    positions: list[A.Pos | None] = field(default_factory=lambda: [None])
    rests: dict[int, object] = field(default_factory=dict)  # pc -> where control rests there

    def new_pc(self, label: str, pos: A.Pos | None) -> int:
        """A new program counter value of this slot, labelled ``label``."""
        self.labels.append(label)
        self.positions.append(pos)
        return len(self.labels) - 1


@dataclass
class BindingVars:
    """The variables of one binding: NMR's phase and each side's state."""

    phase: int
    side: dict[str, int]  # detach state per side
    pend: dict[str, int]  # the side's callback returned STATUS_PENDING
    clean: dict[str, int]  # cleanup state per side
    attach_ret: int
    slot: dict[str, SlotInfo]
    ctx: dict[str, int]  # binding context per side: NONE, VALID, FREED
    inflight: dict[str, int]  # NPI calls the side has in flight into its peer
    user: dict[tuple[str, str], int] = field(default_factory=dict)  # (side, name) -> var


# A position in a routine body: statement list, index, and where control goes after the list.
# None is the routine's end.


@dataclass(frozen=True)
class Position:
    stmts: tuple[A.Node, ...]
    index: int
    cont: Position | None
    frame: object = None  # an NPI function body's frame (Frame below), None: the routine's


@dataclass(frozen=True)
class AttachWait:
    """Control rests here while NmrClientAttachProvider runs the provider's attach."""

    call: A.Call
    target: str | None  # a local that receives the status, or "<return>"
    after: Position | None


ExitHook = Callable[[Path, Expr, A.Pos], list[Path]]


@dataclass
class Scope:
    """What names mean inside one routine instance."""

    driver: DriverInst
    binding: BindingInst | None = None
    side: str | None = None  # the driver's side of the binding
    locals: dict[str, tuple[int, Ty, int]] = field(default_factory=dict)
    serving: str | None = None  # an NPI function body: who calls it


# -- kernel primitives (nmrcheck.nmr.prims) -----------------------------------------------
@dataclass
class Prim:
    """One declared primitive of a driver instance, or of one side of a binding."""

    decl: A.PrimDecl
    name: str  # as traces show it: "D.R" or "B.pbc.R"
    vars: dict[str, int]  # "state", "refs", "count", "set"
    inits: dict[int, int]
    obj: Prim | None = None
    handlers: tuple[A.OnDecl, ...] = ()
    binding: int | None = None
    side: str | None = None

    @property
    def kind(self) -> str:
        return self.decl.kind


@dataclass(frozen=True)
class Waiting:
    """Control rests here inside a wait that has taken effect: a rundown wait until the
    references drain, an epoch synchronisation until the older epochs end."""

    call: A.Call
    what: str  # "rundown" or "epoch"
    key: tuple
    after: object = None
    frame: object = None


@dataclass(frozen=True)
class Goto:
    """A step that goes on into ``stmts`` (a threshold action, an NPI function body)."""

    stmts: tuple[A.Node, ...]
    frame: object = None


@dataclass(eq=False)
class Frame:
    """Code that runs on the caller's thread under another scope: an NPI function body."""

    scope: object
    func: str
    parent: Frame | None = None
    locals_done: bool = False
    chain: tuple = field(default_factory=tuple)


class Compiler:
    """Builds the TransitionSystem of one design. Use nmrcheck.nmr.compile.compile_design."""

    def __init__(self, design: Design, options: dict[str, str] | None = None):
        self.design = design
        self.options = {k: v.default for k, v in KNOBS.items()} | (options or {})
        self.ts = TransitionSystem()
        self.findings: list[Finding] = []
        self.fault_labels = ["none"]
        self.fault_meta: dict[str, dict[str, Any]] = {}
        self.ts.add_var("fault", 0, 0, 0, labels=["none"])
        self.fault = 0  # the index of the fault variable
        self.slots: list[SlotInfo] = []
        self.var_ty: dict[int, Ty] = {}
        self.drv_state: dict[int, int] = {}
        self.main: dict[int, SlotInfo] = {}
        self.dvars: dict[tuple[int, str], int] = {}
        self.locks: dict[tuple[int, str], int] = {}
        self.block: dict[tuple[int, str, str], int] = {}  # binding locks (binding, side, name)
        self.reg_state: dict[int, int] = {}
        self.reg_unload: dict[int, int] = {}
        self.bvars: dict[int, BindingVars] = {}
        self.tasks: dict[tuple, SlotInfo] = {}
        self.queued: dict[tuple, int] = {}
        self.entries: dict[tuple, int] = {}
        self.cleanup_cb: dict[tuple[int, str], bool] = {}
        self.flags: dict[str, int] = {}  # obligation -> sticky violation variable
        self.lock_passive: dict[int, bool] = {}  # lock variable -> is a PASSIVE_LEVEL lock
        self.thread_vars: list[int] = []  # variables holding a thread id + 1 (domain patched)
        self.reg_data: dict[int, int] = {}  # registration -> its data was freed
        self.reg_caller: dict[int, int] = {}  # registration -> thread id + 1 inside its call
        self.completion_locks: dict[int, set[str]] = {}  # driver -> locks its completions take
        self.npi_locks: dict[int, set[str]] = {}  # driver -> locks its NPI paths take
        self.nestable: dict[int, bool] = {}  # binding -> NMR may nest its callbacks in calls
        self.init_flag: dict[int, int] = {}  # variable without initializer -> "assigned yet"
        # (binding, side) -> the side's attach callback calls allocate_binding_context()
        self.explicit_alloc: dict[tuple[int, str], bool] = {}
        self.ref_var: dict[int, int] = {}  # slot -> "holds a counted reference" (CALL-1)
        self.reg_stored: dict[int, int] = {}  # registration -> its handle is stored (REG-6)
        # kernel primitives (nmrcheck.nmr.prims, nmrcheck.nmr.irql)
        self.prims: dict[tuple[int, str], Prim] = {}  # (driver, name)
        self.bprims: dict[tuple[int, str, str], Prim] = {}  # (binding, side, name)
        self.slot_src: dict[int, tuple] = {}  # slot -> (driver, binding, side, bodies)
        self.dispatch_slots: set[int] = set()  # threads whose routine runs at DISPATCH_LEVEL
        self.raised: dict[int, int] = {}  # slot -> its IRQL variable (code raises IRQL)
        self.epoch_vars: dict[int, int] = {}  # slot -> its epoch state (code enters epochs)
        self.shared: dict[tuple[int, int], int] = {}  # (lock, slot) -> "holds it shared"
        self.readers: dict[int, int] = {}  # lock -> how many threads hold it shared
        self.lock_obj: dict[int, Prim] = {}  # lock -> the object it lives in
        self.var_obj: dict[int, Prim] = {}  # variable -> the object it lives in

    # -- helpers used by routine compilation ---------------------------------------------------
    def fail(self, pos: A.Pos | None, msg: str) -> None:
        """Report a mistake in the design at ``pos`` (the model's file when None)."""
        if pos is None:
            self.findings.append(Finding(self.design.model.pos.file, 0, 0, msg))
        else:
            self.findings.append(Finding(pos.file, pos.line, pos.col, msg))

    def new_var(self, name: str, ty: Ty, init: int) -> int:
        """A new state variable of type ``ty`` starting at ``init``; returns its index."""
        labels = ty.labels if ty.kind == "enum" else None
        typ = E.BOOL if ty.kind == "bool" else E.INT
        self.ts.add_var(name, ty.lo, ty.hi, init, type=typ, labels=labels)
        idx = len(self.ts.vars) - 1
        self.var_ty[idx] = ty
        return idx

    def enum_var(self, name: str, labels: tuple[str, ...], init: str | None = None) -> int:
        """A new enum variable over ``labels``, starting at ``init`` (else the first)."""
        ty = Ty("enum", 0, len(labels) - 1, labels)
        return self.new_var(name, ty, labels.index(init) if init else 0)

    def bool_var(self, name: str) -> int:
        """A new bool variable, starting false."""
        return self.new_var(name, BOOL, 0)

    def rd(self, idx: int, path: Path | None = None) -> Expr:
        """Variable ``idx`` as of the start of the step, or as ``path`` has set it so far."""
        if path is not None and idx in path.env:
            return path.env[idx]
        return E.var(idx, self.ts.vars[idx].type)

    def is_(self, idx: int, label: str, path: Path | None = None) -> Expr:
        """Whether enum variable ``idx`` (as ``path`` has it) is ``label``."""
        return E.eq(self.rd(idx, path), _c(self.ts.vars[idx].labels.index(label)))

    def is_in(self, idx: int, labels: tuple[str, ...], path: Path | None = None) -> Expr:
        """Whether enum variable ``idx`` (as ``path`` has it) is one of ``labels``."""
        lab = self.ts.vars[idx].labels
        return E.in_(self.rd(idx, path), [lab.index(x) for x in labels])

    def val(self, idx: int, label: str) -> Expr:
        """The constant of ``label`` of enum variable ``idx``."""
        return _c(self.ts.vars[idx].labels.index(label))

    def fault_code(self, key: str, meta: dict[str, Any]) -> int:
        """The value of the fault variable for property ``key`` (declared on first use)."""
        if key not in self.fault_meta:
            self.fault_labels.append(key)
            self.fault_meta[key] = meta
        return self.fault_labels.index(key)

    def flag_var(self, code: str) -> int:
        """The sticky variable that records a violation of ``code`` that does not halt."""
        idx = self.flags.get(code)
        if idx is None:
            idx = self.bool_var(f"violated.{code}")
            self.flags[code] = idx
        return idx

    def type_of(self, t: A.TypeRef, driver=None) -> Ty:
        """The type a declaration names (a HANDLE ranges over ``driver``'s bindings)."""
        if t.kind == "bool":
            return BOOL
        if t.kind == "handle":
            # a binding handle the module keeps (O7): NULL or one of its bindings
            if driver is None:
                self.fail(t.pos, "a HANDLE belongs to a driver: declare it in one")
                return Ty("enum", 0, 0, ("NULL",), "HANDLE")
            names = ("NULL", *(b.name for r in driver.regs for b in r.bindings))
            return Ty("enum", 0, len(names) - 1, names, "HANDLE")
        if t.kind == "status":
            return STATUS_TY
        if t.kind == "int":
            if t.lo > t.hi:
                self.fail(t.pos, f"empty range {t.lo}..{t.hi}")
                return Ty("int", t.lo, t.lo)
            if t.hi - t.lo > MAX_INT_SPAN:
                self.fail(
                    t.pos, f"range {t.lo}..{t.hi} is too large (at most {MAX_INT_SPAN} values)"
                )
                return Ty("int", t.lo, t.lo)
            return Ty("int", t.lo, t.hi)
        if len(set(t.labels)) != len(t.labels):
            self.fail(t.pos, "an enum label is repeated")
        return Ty("enum", 0, len(t.labels) - 1, t.labels)

    def const_value(self, node: A.Node, ty: Ty) -> int:
        """The value of an initializer (a literal of the variable's type)."""
        v: int | None = None
        if isinstance(node, A.Num) and ty.kind == "int":
            v = node.value
        elif isinstance(node, A.Unary) and node.op == "-" and isinstance(node.arg, A.Num):
            v = -node.arg.value if ty.kind == "int" else None
        elif isinstance(node, A.BoolLit) and ty.kind == "bool":
            v = int(node.value)
        elif isinstance(node, A.Name) and ty.kind == "enum" and node.id in ty.labels:
            v = ty.labels.index(node.id)
        if v is None:
            self.fail(node.pos, f"initial value must be a constant of type {ty}")
            return ty.lo
        if not ty.lo <= v <= ty.hi:
            self.fail(node.pos, f"initial value {v} is outside {ty.lo}..{ty.hi}")
            return ty.lo
        return v

    def lookup_var(self, scope: Scope, name: str) -> tuple[int, Ty] | None:
        """The variable and type ``name`` means in ``scope`` (its binding's first), or None."""
        if scope.binding is not None:
            bv = self.bvars[scope.binding.id]
            idx = bv.user.get((scope.side, name))
            if idx is not None:
                return idx, self.var_ty[idx]
        idx = self.dvars.get((scope.driver.id, name))
        if idx is not None:
            return idx, self.var_ty[idx]
        return None

    def var_names(self, scope: Scope) -> list[str]:
        """The variables code in ``scope`` can name (binding variables only for a binding)."""
        return [
            v.name for v in scope.driver.decl.vars if scope.binding is not None or not v.per_binding
        ]

    def unknown_name(self, scope: Scope, name: str, what: str, options: list[str]) -> str:
        """The message for a name that code in ``scope`` cannot see."""
        for v in scope.driver.decl.vars:
            if v.name == name and v.per_binding and scope.binding is None:
                return (
                    f"{name!r} is a binding variable (a field of the binding context): it can "
                    "be used only in the callbacks and in binding tasks and work items"
                )
        for lk in scope.driver.decl.locks:
            if lk.name == name and lk.per_binding and scope.binding is None:
                return (
                    f"{name!r} is a binding lock (in the binding context): it can be used "
                    "only in the callbacks and in binding tasks and work items"
                )
        return f"unknown {what} {name!r}{suggest(name, [o for o in options if o != name])}"

    def lock_obj_vars(self, obj: Prim) -> list[int]:
        """The variables of the locks that live in object ``obj`` (and their shared holds)."""
        locks = [idx for idx, o in self.lock_obj.items() if o is obj]
        out = list(locks)
        out += [bit for (idx, _s), bit in self.shared.items() if idx in locks]
        out += [self.readers[idx] for idx in locks if idx in self.readers]
        return out

    def lock_var(self, scope: Scope, name: str) -> int | None:
        """The variable of lock ``name`` in ``scope`` (its binding's first), or None."""
        if scope.binding is not None:
            idx = self.block.get((scope.binding.id, scope.side, name))
            if idx is not None:
                return idx
        return self.locks.get((scope.driver.id, name))

    def queue_var(self, scope: Scope, name: str) -> int | None:
        """The "queued" variable of work item ``name`` in ``scope`` (its binding's first)."""
        if scope.binding is not None:
            q = self.queued.get((scope.driver.id, name, scope.binding.id, scope.side))
            if q is not None:
                return q
        return self.queued.get((scope.driver.id, name))

    def _drg(self, key: str) -> int:
        o = V.OBLIGATIONS[key]
        return self.fault_code(key, {"kind": "obligation", "section": o.section, "text": o.text})

    def mark_assigned(self, path: Path, idx: int) -> None:
        """Record on ``path`` that variable ``idx`` (declared without a value) is assigned."""
        flag = self.init_flag.get(idx)
        if flag is not None:
            path.set(flag, E.TRUE)

    def rule(self, key: str) -> str:
        """Declare that obligation ``key`` is checked (it becomes a property); returns it."""
        self._drg(key)
        return key

    def builtin_rule(self, key: str, text: str) -> str:
        """Declare a built-in property that is not an obligation of §5 (range, lock, ...)."""
        self.fault_code(key, {"kind": key, "text": text})
        return key

    def split_state(self, path: Path, idx: int, labels: tuple[str, ...]) -> dict[str, Path]:
        """Fork ``path`` on each listed value of the enum variable ``idx``."""
        out: dict[str, Path] = {}
        cur = self.rd(idx, path)
        for lab in labels:
            yes, _ = path.split(E.eq(cur, self.val(idx, lab)))
            if yes is not None:
                out[lab] = yes
        return out

    # -- actions ---------------------------------------------------------------------------------
    def add_step(self, slot: SlotInfo, pc: int, path: Path, routine: str, scope: Scope) -> None:
        """Record a completed path leaving ``pc`` of ``slot`` as an IR action."""
        guard = E.and_(E.eq(self.rd(slot.pc), _c(pc)), path.guard)
        env = dict(path.env)
        meta: dict[str, Any] = {
            "actor": slot.actor,
            "routine": routine,
            "binding": scope.binding.name if scope.binding else None,
            "pos": path.at or (slot.positions[pc] if pc < len(slot.positions) else None),
            "text": "; ".join(path.notes),
            "status": path.status,
        }
        if path.ref is not None and slot.id in self.ref_var:
            env.setdefault(self.ref_var[slot.id], path.ref)
        if path.flags:
            meta["flags"] = [(code, msg, at) for code, msg, at in path.flags]
            for code, _msg, _at in path.flags:
                env[self.flag_var(code)] = E.TRUE
        if path.fault is not None:
            code = self.fault_labels.index(path.fault)
            env = {self.fault: _c(code)}
            meta["fault"] = path.fault
            meta["fault_msg"] = path.fault_msg
            meta["pos"] = path.fault_pos or meta["pos"]
        if meta["pos"] is None:
            meta["pos"] = slot.positions[pc]
        label = f"{slot.owner}: {meta['text']}"
        self._action(label, guard, env, slot.id, meta)

    def _action(
        self, label: str, guard: Expr, env: dict[int, Expr], slot: int, meta: dict[str, Any]
    ) -> None:
        updates = tuple(
            sorted((i, e) for i, e in env.items() if not (e.op == "var" and e.val == i))
        )
        g = E.and_(guard, E.eq(self.rd(self.fault), _c(0)))
        if g is E.FALSE:
            return
        self.ts.actions.append(Action(label, g, updates, slot, meta))

    def env_action(
        self, label: str, guard: Expr, updates: dict[int, Expr], meta: dict[str, Any]
    ) -> None:
        """Add an action of NMR (the environment), not of a driver's thread."""
        meta = {
            "actor": "NMR",
            "routine": None,
            "binding": None,
            "pos": None,
            **meta,
            "text": meta.get("text", label),
        }
        self._action(label, guard, updates, -1, meta)


class RoutineContext(Protocol):
    """What the statement compilers (api, prims, lifetimes, threads, irql, expressions,
    builtin) use of the routine being compiled: a routines.RoutineCompiler, which calls them
    and which they call back to compile expressions and nested statements."""

    c: Compiler
    slot: SlotInfo
    routine: str
    scope: Scope
    pos: A.Pos
    at_top: bool
    current_pos: A.Pos
    exit_hook: ExitHook

    def cond(self, node: A.Node, path: Path) -> Expr:
        """Compile the condition ``node`` (a bool) over ``path``."""
        ...

    def expr(self, node: A.Node, path: Path, want: Ty | None) -> Expr:
        """Compile the expression ``node`` over ``path``, checked against ``want``."""
        ...

    def exec_block(self, stmts: tuple[A.Node, ...], path: Path) -> list[tuple[Path, object]]:
        """Run ``stmts`` symbolically inside one step."""
        ...

    def assign_result(
        self, path: Path, target: str | None, status: int, pos: A.Pos | None = None
    ) -> None:
        """Store a call's status in ``target``."""
        ...

    def lookup_target(self, name: str, pos: A.Pos | None) -> tuple[int, Ty] | None:
        """The variable ``name`` assigns (a local first), or None (reported at ``pos``)."""
        ...

    def blocked(self, path: Path, text: str) -> list[tuple[Path, object]]:
        """The step of a wait that breaks a rule and blocks."""
        ...

    def describe_here(self) -> str:
        """The statement being compiled, as one line of model text."""
        ...


# -- threads and the locks they hold ---------------------------------------------------------
def thread_of(comp: Compiler, slot: SlotInfo, path: Path | None = None) -> Expr:
    """The id of the OS thread that runs ``slot`` now (a nested callback runs on its caller's)."""
    if slot.thread_var is None:
        return E.const(slot.id)
    thr = comp.rd(slot.thread_var, path)
    return E.ite(E.eq(thr, E.const(0)), E.const(slot.id), E.sub(thr, E.const(1)))


def locks_in_scope(comp: Compiler, scope: Scope) -> list[tuple[str, int]]:
    """(name, variable) of every lock code in ``scope`` can take."""
    out = [(name, idx) for (d, name), idx in comp.locks.items() if d == scope.driver.id]
    if scope.binding is not None:
        out += [
            (name, idx)
            for (b, s, name), idx in comp.block.items()
            if b == scope.binding.id and s == scope.side
        ]
    return sorted(out)


def held_by_me(
    comp: Compiler, rc: RoutineContext, path: Path, names: set[str] | None, spin_only: bool = False
) -> Expr:
    """Whether this thread holds one of the locks ``names`` (all when None), exclusive or
    shared (a lock taken shared counts for the thread that took it, not for the thread a
    callback of it runs nested in)."""
    me = E.add(thread_of(comp, rc.slot, path), E.const(1))
    parts = []
    for name, idx in locks_in_scope(comp, rc.scope):
        if names is not None and name not in names:
            continue
        if spin_only and comp.lock_passive.get(idx, False):
            continue
        parts.append(E.eq(comp.rd(idx, path), me))
        bit = comp.shared.get((idx, rc.slot.id))
        if bit is not None:
            parts.append(E.eq(comp.rd(bit, path), E.const(1)))
    return E.or_(*parts)

