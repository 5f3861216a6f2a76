"""Compile an elaborated design into the IR: the NMR state machines, the drivers' routines as
threads, and the NMR obligations as properties (nmr-semantics.md §3, §5, §7)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nmrcheck.errors import Finding, InputError
from nmrcheck.ir import INVARIANT, Action, Property, Slot, TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.lang import ast as A
from nmrcheck.nmr import api, irql, lifetimes, prims, threads
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.design import Design, suggest
from nmrcheck.nmr.paths import BOOL, Path, Ty
from nmrcheck.nmr.routines import STATUS_TY, RoutineCompiler, Scope
from nmrcheck.nmr.unparse import unparse

MAX_INT_SPAN = 1 << 16
ATTACHED_PHASES = ("HALF_ATTACHED", "LIVE", "DETACHING", "CLEANUP")


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
        self.labels.append(label)
        self.positions.append(pos)
        return len(self.labels) - 1


@dataclass
class BindingVars:
    phase: int
    side: dict[str, int]  # detach state per side
    pend: dict[str, int]  # the side's callback returned STATUS_PENDING
    clean: dict[str, int]  # cleanup state per side
    attach_ret: int
    slot: dict[str, SlotInfo]
    ctx: dict[str, int]  # binding context per side: NONE, VALID, FREED
    inflight: dict[str, int]  # NPI calls the side has in flight into its peer
    user: dict[tuple[str, str], int] = field(default_factory=dict)  # (side, name) -> var


class Compiler:
    """Builds the TransitionSystem of one design. Use :func:`compile_design`."""

    def __init__(self, design: Design, options: dict[str, str] | None = None):
        from nmrcheck.nmr.options import KNOBS

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
        self.prims: dict[tuple[int, str], prims.Prim] = {}  # (driver, name)
        self.bprims: dict[tuple[int, str, str], prims.Prim] = {}  # (binding, side, name)
        self.slot_src: dict[int, tuple] = {}  # slot -> (driver, binding, side, bodies)
        self.dispatch_slots: set[int] = set()  # threads whose routine runs at DISPATCH_LEVEL
        self.raised: dict[int, int] = {}  # slot -> its IRQL variable (code raises IRQL)
        self.epoch_vars: dict[int, int] = {}  # slot -> its epoch state (code enters epochs)
        self.shared: dict[tuple[int, int], int] = {}  # (lock, slot) -> "holds it shared"
        self.readers: dict[int, int] = {}  # lock -> how many threads hold it shared
        self.lock_obj: dict[int, prims.Prim] = {}  # lock -> the object it lives in
        self.var_obj: dict[int, prims.Prim] = {}  # variable -> the object it lives in

    # -- helpers used by routine compilation ---------------------------------------------------
    def fail(self, pos: A.Pos | None, msg: str) -> None:
        if pos is None:
            self.findings.append(Finding(self.design.model.pos.file, 0, 0, msg))
        else:
            self.findings.append(Finding(pos.file, pos.line, pos.col, msg))

    def new_var(self, name: str, ty: Ty, init: int) -> int:
        labels = ty.labels if ty.kind == "enum" else None
        typ = E.BOOL if ty.kind == "bool" else E.INT
        self.ts.add_var(name, ty.lo, ty.hi, init, type=typ, labels=labels)
        idx = len(self.ts.vars) - 1
        self.var_ty[idx] = ty
        return idx

    def _enum(self, name: str, labels: tuple[str, ...], init: str | None = None) -> int:
        ty = Ty("enum", 0, len(labels) - 1, labels)
        return self.new_var(name, ty, labels.index(init) if init else 0)

    def _bool(self, name: str) -> int:
        return self.new_var(name, BOOL, 0)

    def rd(self, idx: int, path: Path | None = None) -> Expr:
        """Variable ``idx`` as of the start of the step, or as ``path`` has set it so far."""
        if path is not None and idx in path.env:
            return path.env[idx]
        return E.var(idx, self.ts.vars[idx].type)

    def is_(self, idx: int, label: str, path: Path | None = None) -> Expr:
        return E.eq(self.rd(idx, path), _c(self.ts.vars[idx].labels.index(label)))

    def is_in(self, idx: int, labels: tuple[str, ...], path: Path | None = None) -> Expr:
        lab = self.ts.vars[idx].labels
        return E.in_(self.rd(idx, path), [lab.index(x) for x in labels])

    def val(self, idx: int, label: str) -> Expr:
        return _c(self.ts.vars[idx].labels.index(label))

    def fault_code(self, key: str, meta: dict[str, Any]) -> int:
        if key not in self.fault_meta:
            self.fault_labels.append(key)
            self.fault_meta[key] = meta
        return self.fault_labels.index(key)

    def flag_var(self, code: str) -> int:
        """The sticky variable that records a violation of ``code`` that does not halt."""
        idx = self.flags.get(code)
        if idx is None:
            idx = self._bool(f"violated.{code}")
            self.flags[code] = idx
        return idx

    def type_of(self, t: A.TypeRef, driver=None) -> Ty:
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

    # -- expressions ------------------------------------------------------------------------------
    def expr(
        self, node: A.Node, rc: RoutineCompiler, path: Path, want: Ty | None
    ) -> tuple[Expr, Ty]:
        if isinstance(node, A.Num):
            return _c(node.value), Ty("int", node.value, node.value)
        if isinstance(node, A.BoolLit):
            return E.const(node.value), BOOL
        if isinstance(node, A.Name):
            return self._name(node, rc, path, want)
        if isinstance(node, A.Unary):
            if node.op == "!":
                e, _ = self._typed(node.arg, rc, path, BOOL)
                return E.not_(e), BOOL
            e, _ = self._typed(node.arg, rc, path, Ty("int"))
            return E.sub(_c(0), e), Ty("int")
        if isinstance(node, A.Binary):
            return self._binary(node, rc, path)
        if isinstance(node, A.Member):
            e, ty = self.expr(node.arg, rc, path, None)
            if ty.kind != "enum":
                self.fail(node.pos, "'in {...}' needs an enum or NTSTATUS value")
                return E.FALSE, BOOL
            vals = []
            for lab in node.labels:
                if lab.id not in ty.labels:
                    self.fail(
                        lab.pos, f"{lab.id!r} is not a value of {ty}{suggest(lab.id, ty.labels)}"
                    )
                else:
                    vals.append(ty.labels.index(lab.id))
            return E.in_(e, vals), BOOL
        if isinstance(node, A.Attr):
            return self._reg_attr(node, rc)
        if isinstance(node, A.Call):
            self.fail(
                node.pos,
                f"{node.func}(...) is a statement; assign its result: x = {node.func}(...)",
            )
        elif isinstance(node, A.Str):
            self.fail(node.pos, "a string is allowed only as the message of error() or assert()")
        elif isinstance(node, A.Quant):
            self.fail(node.pos, f"'{node.kind}' is allowed in specs, not in model code")
        else:
            self.fail(node.pos, f"'{unparse(node)}' is not allowed in model code")
        return E.FALSE, BOOL

    # -- registration attributes: what a module can see of a registration ------------------
    def attr_type(self, key: str, pos: A.Pos) -> Ty | None:
        """The type of registration attribute ``key``: int, bool, or one enum of every label
        that any registration's attributes use."""
        kinds = {
            type(a.value).__name__
            for r in self.design.regs
            for a in r.decl.attrs
            if a.name == key
        }
        if not kinds:
            return None
        if len(kinds) > 1:
            self.fail(pos, f"attribute {key!r} has values of different types")
            return None
        kind = kinds.pop()
        if kind == "Num":
            return Ty("int")
        if kind == "BoolLit":
            return BOOL
        labels = sorted(
            {
                a.value.id
                for r in self.design.regs
                for a in r.decl.attrs
                if isinstance(a.value, A.Name)
            }
        )
        return Ty("enum", 0, len(labels) - 1, tuple(labels), "label")

    def _reg_attr(self, node: A.Attr, rc: RoutineCompiler) -> tuple[Expr, Ty]:
        """``peer.X`` (in binding code: the peer's registration) or ``REG.X`` (a registration
        of this driver): a constant of the registration instance (§1.4)."""
        obj = node.obj
        scope = rc.scope
        reg = None
        if isinstance(obj, A.Name) and obj.id == "peer":
            if scope.binding is None:
                self.fail(obj.pos, "'peer' is the other side of a binding: use it in binding code")
                return E.FALSE, BOOL
            reg = scope.binding.side_reg(lifetimes.other(scope.side))
        elif isinstance(obj, A.Name):
            reg = next((r for r in scope.driver.regs if r.decl.name == obj.id), None)
        if reg is None:
            self.fail(node.pos, f"'{unparse(node)}' is not allowed in model code")
            return E.FALSE, BOOL
        ty = self.attr_type(node.name, node.pos)
        value = next((a.value for a in reg.decl.attrs if a.name == node.name), None)
        if ty is None or value is None:
            have = [a.name for a in reg.decl.attrs]
            self.fail(
                node.pos,
                f"registration {reg.name} declares no {node.name!r}{suggest(node.name, have)} "
                f"(write '{reg.role} {reg.decl.name} of {reg.decl.npi} with ({node.name} = ...)')",
            )
            return E.FALSE, BOOL
        if isinstance(value, A.Name):
            return _c(ty.labels.index(value.id)), ty
        return _c(int(value.value)), ty

    def _typed(self, node: A.Node, rc: RoutineCompiler, path: Path, want: Ty) -> tuple[Expr, Ty]:
        e, ty = self.expr(node, rc, path, want)
        if ty.kind != want.kind:
            self.fail(node.pos, f"expected {want.kind}, found {ty}")
        return e, ty

    def _label_like(self, node: A.Node, rc: RoutineCompiler) -> bool:
        return (
            isinstance(node, A.Name)
            and node.id not in rc.scope.locals
            and self.lookup_var(rc.scope, node.id) is None
        )

    def _binary(self, n: A.Binary, rc: RoutineCompiler, path: Path) -> tuple[Expr, Ty]:
        op = n.op
        if op in ("&&", "||", "=>"):
            a, _ = self._typed(n.left, rc, path, BOOL)
            b, _ = self._typed(n.right, rc, path, BOOL)
            return {"&&": E.and_, "||": E.or_, "=>": E.implies}[op](a, b), BOOL
        if op in ("+", "-"):
            a, _ = self._typed(n.left, rc, path, Ty("int"))
            b, _ = self._typed(n.right, rc, path, Ty("int"))
            return (E.add(a, b) if op == "+" else E.sub(a, b)), Ty("int")
        if op in ("<", "<=", ">", ">="):
            a, _ = self._typed(n.left, rc, path, Ty("int"))
            b, _ = self._typed(n.right, rc, path, Ty("int"))
            return {"<": E.lt, "<=": E.le, ">": E.gt, ">=": E.ge}[op](a, b), BOOL
        # == and !=: type the side that is not a bare label first
        if self._label_like(n.left, rc) and not self._label_like(n.right, rc):
            b, tb = self.expr(n.right, rc, path, None)
            a, ta = self.expr(n.left, rc, path, tb)
        else:
            a, ta = self.expr(n.left, rc, path, None)
            b, tb = self.expr(n.right, rc, path, ta)
        if ta.kind != tb.kind or (ta.kind == "enum" and ta.labels != tb.labels):
            self.fail(n.pos, f"cannot compare {ta} with {tb}")
        e = E.eq(a, b)
        return (e if op == "==" else E.not_(e)), BOOL

    def _name(
        self, node: A.Name, rc: RoutineCompiler, path: Path, want: Ty | None
    ) -> tuple[Expr, Ty]:
        name = node.id
        if name in rc.scope.locals:
            idx, ty, _ = rc.scope.locals[name]
            return path.read(idx, self.ts.vars[idx].type), ty
        found = self.lookup_var(rc.scope, name)
        if found is not None:
            idx, ty = found
            flag = self.init_flag.get(idx)
            if flag is not None:
                unset = E.not_(self.rd(flag, path))
                if unset is not E.FALSE:
                    msg = f"reads {name!r} before it is assigned"
                    path.uninit.append((unset, self._uninit_code(rc, idx), msg, node.pos))
            obj = self.var_obj.get(idx)
            if obj is not None:  # a field of an object: read only while it is allocated
                gone = E.not_(self.is_(obj.vars["state"], "VALID", path))
                msg = f"reads {name!r}, which lives in {obj.name}, not allocated"
                path.uninit.append((gone, prims.uaf(self), msg, node.pos))
            return path.read(idx, self.ts.vars[idx].type), ty
        if want is not None and want.kind == "enum" and name in want.labels:
            return _c(want.labels.index(name)), want
        if name in V.STATUSES:
            return _c(V.STATUSES.index(name)), STATUS_TY
        if name == "binding" and want is not None and want.name == "HANDLE":
            if rc.scope.binding is None:
                self.fail(node.pos, "'binding' is the handle of the binding code runs for")
                return _c(0), want
            return _c(want.labels.index(rc.scope.binding.name)), want
        for v in rc.scope.driver.decl.vars:
            if v.type.kind == "enum" and name in v.type.labels:
                ty = self.type_of(v.type)
                return _c(ty.labels.index(name)), ty
        prim = prims.lookup(self, rc.scope, name)
        if prim is not None:
            self.fail(node.pos, f"{name!r} is a {prim.kind}: it has no value to read here")
            return E.FALSE, want or BOOL
        options = list(rc.scope.locals) + self.var_names(rc.scope) + list(V.STATUSES)
        self.fail(node.pos, self.unknown_name(rc.scope, name, "name", options))
        return E.FALSE, want or BOOL

    # -- built-in statements ----------------------------------------------------------------------
    def builtin(
        self,
        rc: RoutineCompiler,
        call: A.Call,
        path: Path,
        target: str | None = None,
        top: bool = True,
    ) -> list[tuple[Path, object]]:
        f, args = call.func, call.args
        text = unparse(call)
        kernel = self._kernel(rc, call, path, target, top)
        if kernel is not None:
            return kernel
        if f in ("assert", "error"):
            want = (1, 2) if f == "assert" else (0, 1)
            if len(args) not in want:
                self.fail(call.pos, f"{f}() takes {' or '.join(map(str, want))} arguments")
                return []
            msg_node = args[-1] if (f == "error" and args) or len(args) == 2 else None
            if msg_node is not None and not isinstance(msg_node, A.Str):
                self.fail(msg_node.pos, f"the message of {f}() must be a string")
                return []
            msg = msg_node.value if isinstance(msg_node, A.Str) else ""
            key = f"{f}@{call.pos.file}:{call.pos.line}"
            what = "assertion" if f == "assert" else "error()"
            self.fault_code(
                key,
                {
                    "kind": f,
                    "pos": call.pos,
                    "message": msg,
                    "text": f"{what} at line {call.pos.line} never fails"
                    + (f": {msg}" if msg else ""),
                },
            )
            if f == "error":
                path.notes.append(text)
                return [(path.fail(key, f"error: {msg}" if msg else "error()", call.pos), "fault")]
            cond = rc.cond(args[0], path)
            ok, bad = path.split(cond)
            out: list[tuple[Path, object]] = []
            if ok is not None:
                ok.notes.append(text)
                out.append((ok, "next"))
            if bad is not None:
                bad.notes.append(text)
                detail = f"assertion failed: {unparse(args[0])}" + (f" ({msg})" if msg else "")
                out.append((bad.fail(key, detail, call.pos), "fault"))
            return out
        if f in ("npi_call_begin", "npi_call_end"):
            return lifetimes.npi_call(rc, call, path, begin=f == "npi_call_begin")
        if f == "free_binding_context":
            return lifetimes.free_context(rc, call, path)
        if f == "allocate_binding_context":
            return lifetimes.allocate_context(rc, call, path)
        if f == "free_registration_data":
            return lifetimes.free_registration(rc, call, path)
        if len(args) != 1 or not isinstance(args[0], A.Name):
            self.fail(call.pos, f"{f}() takes one name")
            return []
        name = args[0].id
        if f in ("acquire", "release"):
            idx = self._lock(rc.scope, name)
            if idx is None:
                locks = [n for n, _ in threads.locks_in_scope(self, rc.scope)]
                self.fail(args[0].pos, self.unknown_name(rc.scope, name, "lock", locks))
                return []
            if f == "acquire":
                return threads.acquire(self, rc, call, name, idx, path, text)
            return threads.release(self, rc, call, name, idx, path, text)
        if f in ("acquire_shared", "release_shared"):
            idx = self._lock(rc.scope, name)
            if idx is None:
                locks = [n for n, _ in threads.locks_in_scope(self, rc.scope)]
                self.fail(args[0].pos, self.unknown_name(rc.scope, name, "lock", locks))
                return []
            fn = threads.acquire_shared if f == "acquire_shared" else threads.release_shared
            return fn(self, rc, call, name, idx, path, text)
        # queue(W)
        q = self._queue_var(rc.scope, name)
        if q is None:
            self.fail(args[0].pos, f"unknown work item {name!r} (declare it with 'workitem')")
            return []
        path.set(q, E.TRUE)
        path.notes.append(text)
        return [(path, "next")]

    def _kernel(
        self, rc: RoutineCompiler, call: A.Call, path: Path, target: str | None, top: bool
    ) -> list[tuple[Path, object]] | None:
        """The kernel primitives (nmrcheck.nmr.prims), or None for another built-in."""
        f = call.func
        rc.at_top = top
        if f.startswith("Ex") and "Rundown" in f:
            return prims.rundown(rc, call, path, target)
        if f in ("reference", "dereference"):
            return prims.refcount(rc, call, path, top, target)
        if f in ("KeSetEvent", "KeClearEvent", "KeResetEvent", "KeWaitForSingleObject"):
            return prims.event(rc, call, path, target, top)
        if f in ("allocate", "free", "use"):
            return prims.memory(rc, call, path, target)
        if f == "may_fail":
            return prims.may_fail(rc, call, path, target)
        if f.startswith("ebpf_epoch_"):
            return prims.epoch(rc, call, path)
        if f in ("KeRaiseIrql", "KeLowerIrql"):
            return irql.raise_lower(rc, call, path)
        if f == "npi_call":  # reached only where it cannot run a body
            self.fail(call.pos, "npi_call() runs the peer's function: write it as a statement")
            return []
        return None

    def lock_obj_vars(self, obj: prims.Prim) -> list[int]:
        """The variables of the locks that live in object ``obj`` (and their shared holds)."""
        locks = [idx for idx, o in self.lock_obj.items() if o is obj]
        out = list(locks)
        out += [bit for (idx, _s), bit in self.shared.items() if idx in locks]
        out += [self.readers[idx] for idx in locks if idx in self.readers]
        return out

    def _lock(self, scope: Scope, name: str) -> int | None:
        if scope.binding is not None:
            idx = self.block.get((scope.binding.id, scope.side, name))
            if idx is not None:
                return idx
        return self.locks.get((scope.driver.id, name))

    def _queue_var(self, scope: Scope, name: str) -> int | None:
        if scope.binding is not None:
            q = self.queued.get((scope.driver.id, name, scope.binding.id, scope.side))
            if q is not None:
                return q
        return self.queued.get((scope.driver.id, name))

    # -- NMR API calls --------------------------------------------------------------------------
    def _drg(self, key: str) -> int:
        o = V.OBLIGATIONS[key]
        return self.fault_code(key, {"kind": "obligation", "section": o.section, "text": o.text})

    def _uninit_code(self, rc: RoutineCompiler, idx: int) -> str:
        """Which rule reading an unassigned variable breaks: ATT-4 for a binding context,
        REG-2 for driver state read by NMR callbacks or NPI paths, else 'uninitialized'."""
        if rc.scope.binding is not None and idx in self.bvars[rc.scope.binding.id].user.values():
            return self.rule("ATT-4")
        if rc.routine in threads.CALLBACKS or rc.scope.binding is not None:
            return self.rule("REG-2")
        return self.builtin_rule("uninitialized", "no variable is read before it is assigned")

    def mark_assigned(self, path: Path, idx: int) -> None:
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

    def nmr_call(
        self, rc: RoutineCompiler, call: A.Call, path: Path, target: str | None, top: bool
    ) -> list[tuple[Path, object]]:
        return api.call(self, rc, call, path, target, top)

    def _split_state(self, path: Path, idx: int, labels: tuple[str, ...]) -> dict[str, Path]:
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
        meta = {
            "actor": "NMR",
            "routine": None,
            "binding": None,
            "pos": None,
            **meta,
            "text": meta.get("text", label),
        }
        self._action(label, guard, updates, -1, meta)


def compile_design(design: Design, options: dict[str, str] | None = None) -> TransitionSystem:
    """Compile a design to a TransitionSystem; raises InputError with every finding."""
    from nmrcheck.nmr.build import build
    from nmrcheck.nmr.options import resolve

    options = resolve(design.model, options)
    comp = Compiler(design, options)
    build(comp)
    if not comp.findings and any(not r.bindings for r in design.regs):
        # callbacks of a registration without a peer are never instantiated: check them
        # against a phantom peer so their mistakes are still reported
        from nmrcheck.nmr.design import elaborate, with_phantom_peers

        shadow = Compiler(elaborate(with_phantom_peers(design.model)), options)
        build(shadow)
        for f in shadow.findings:
            msg = re.sub(r"peer#\d+\.R~|~peer#\d+\.R", "", f.message)
            comp.findings.append(dataclasses.replace(f, message=msg))
    if comp.findings:
        raise InputError(
            sorted(set(comp.findings), key=lambda f: (f.file, f.line, f.col, f.message))
        )
    # patch the domains known only now: the fault codes and the program counters
    ts = comp.ts
    ts.vars[comp.fault] = dataclasses.replace(
        ts.vars[comp.fault], hi=len(comp.fault_labels) - 1, labels=tuple(comp.fault_labels)
    )
    for s in comp.slots:
        ts.vars[s.pc] = dataclasses.replace(
            ts.vars[s.pc], hi=len(s.labels) - 1, labels=tuple(s.labels)
        )
    owners = tuple(s.owner for s in comp.slots)
    # replicated drivers: candidates for symmetry reduction (checked by the engine)
    from nmrcheck.ir import InstanceGroup

    ts.groups = [
        InstanceGroup(d.name, tuple(i.name for i in design.instances_of(d.name)))
        for d in design.model.drivers
        if d.count > 1
    ]
    for idx in comp.thread_vars:
        zero = "free" if idx in comp.lock_passive else "none"
        ts.vars[idx] = dataclasses.replace(ts.vars[idx], hi=len(comp.slots), labels=(zero, *owners))
    ts.halted = E.not_(E.eq(comp.rd(comp.fault), _c(0)))
    for code, key in enumerate(comp.fault_labels):
        if code == 0:
            continue
        meta = dict(comp.fault_meta[key])
        meta.setdefault("kind", "obligation")
        expr = E.not_(E.eq(comp.rd(comp.fault), _c(code)))
        if key in comp.flags:
            expr = E.and_(expr, E.not_(comp.rd(comp.flags[key])))
        ts.properties.append(Property(key, INVARIANT, expr, meta))
    ts.slots = [
        Slot(
            s.owner,
            s.pc,
            s.idle,
            {"actor": s.actor, "binding": s.binding, "positions": tuple(s.positions)},
        )
        for s in comp.slots
    ]
    ts.meta["compiler"] = comp
    ts.meta["options"] = options
    ts.resize = _resizer(design, options)
    ts.validate()
    return ts


def _resizer(design: Design,
             options: dict[str, str] | None) -> Callable[[int], TransitionSystem | None]:
    """``resize(k)``: the design with every driver array cut to ``k`` instances, compiled
    with the same options (without specs); None when no array has more."""

    def resize(count: int) -> TransitionSystem | None:
        import dataclasses

        from nmrcheck.nmr.design import elaborate

        model = design.model
        if not any(d.count > count for d in model.drivers):
            return None
        drivers = tuple(dataclasses.replace(d, count=count) if d.count > count else d
                        for d in model.drivers)
        return compile_design(elaborate(dataclasses.replace(model, drivers=drivers)), options)

    return resize
