"""Compile a routine body (for one driver instance, or one binding side) into IR actions.

Control rests between statements; every statement is one atomic step, except ``if``, whose
condition is read in the same step as the first statement of the branch it takes. An
``atomic`` block is one step. ``while`` tests its condition in a step of its own. Within a
step the statements run symbolically over paths (see nmrcheck.nmr.paths).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nmrcheck.errors import Finding, InputError
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.lang import ast as A
from nmrcheck.nmr import api, builtin, expressions, irql, lifetimes, prims, threads
from nmrcheck.nmr import vocab as V
from nmrcheck.nmr.api import InCall
from nmrcheck.nmr.context import (
    STATUS_TY,
    AttachWait,
    Compiler,
    ExitHook,
    Frame,
    Goto,
    Position,
    Scope,
    SlotInfo,
    Waiting,
    held_by_me,
)
from nmrcheck.nmr.design import suggest
from nmrcheck.nmr.paths import BOOL, Path, Ty
from nmrcheck.nmr.unparse import unparse


class RoutineCompiler:
    """Compiles one routine of one instance onto a slot."""

    def __init__(
        self,
        comp: Compiler,
        slot: SlotInfo,
        routine: str,
        body: tuple[A.Node, ...],
        scope: Scope,
        exit_hook: ExitHook,
        default_status: Expr,
        pos: A.Pos,
    ):
        self.c = comp
        self.slot = slot
        self.routine = routine
        self.body = body
        self.scope = scope
        self.base_scope = scope
        self.frame: object = None
        self.at_top = True  # the statement being compiled is not inside an atomic block
        self.frames: dict[tuple, Frame] = {}
        self.ends: dict[tuple, tuple[A.Node, ...]] = {}
        self.exit_hook = exit_hook
        self.default_status = default_status
        self.pos = pos
        self.pcs: dict[object, int] = {}
        self.todo: list[object] = []
        self.implicit_locals: dict[str, A.Node] = {}
        self.current_pos = pos
        self._current_text = ""
        self._collect_locals(body)
        if scope.binding is not None and lifetimes.takes_references_apart(body):
            lifetimes.reference_var(comp, slot)

    # -- locals --------------------------------------------------------------------------
    def _collect_locals(self, stmts: tuple[A.Node, ...], prefix: str = "") -> None:
        for s in stmts:
            if isinstance(s, A.LocalDecl):
                self._declare_local(
                    s.name, self.c.type_of(s.type, self.scope.driver), s.init, s.pos, prefix
                )
            elif isinstance(s, A.Assign) and isinstance(s.value, A.Call):
                status = s.value.func in V.NMR_CALLS or s.value.func == "KeWaitForSingleObject"
                if status and not self._known(s.target):
                    self.implicit_locals.setdefault(s.target, s)
            for sub in _children(s):
                self._collect_locals(sub, prefix)
        for name, node in list(self.implicit_locals.items()):
            if name not in self.scope.locals and not self._known(name):
                self._declare_local(name, STATUS_TY, None, node.pos, prefix)
        self.implicit_locals.clear()

    def all_locals(self) -> list[tuple[int, Ty, int]]:
        """The locals of the routine and of the NPI function bodies it runs."""
        out = list(self.base_scope.locals.values())
        for fr in self.frames.values():
            out += fr.scope.locals.values()
        return out

    def _known(self, name: str) -> bool:
        return name in self.scope.locals or self.c.lookup_var(self.scope, name) is not None

    def _declare_local(
        self, name: str, ty: Ty, init: A.Node | None, pos: A.Pos, prefix: str = ""
    ) -> None:
        if name in self.scope.locals:
            if "." in name and self.scope.locals[name][1] == ty:
                return  # a proc's local, inlined twice: one variable for both calls
            self.c.fail(pos, f"local {name!r} is declared twice in {self.routine}")
            return
        literal = isinstance(init, (A.Num, A.BoolLit)) or (
            isinstance(init, A.Name) and init.id in ty.labels
        )
        # a non-constant initializer is assigned when the declaration runs
        init_val = self.c.const_value(init, ty) if literal else ty.lo
        owner = self.slot.owner
        vname = (
            f"{owner}.{prefix}{name}"
            if owner.endswith(f".{self.routine}")
            else (f"{owner}.{self.routine}.{prefix}{name}")
        )
        idx = self.c.new_var(vname, ty, init_val)
        self.scope.locals[name] = (idx, ty, init_val)

    # -- control ---------------------------------------------------------------------------
    def compile(self) -> int:
        """Compile the routine; returns its entry pc."""
        start = self._norm(Position(self.body, 0, None))
        entry = self._pc_of(start, is_entry=True)
        while self.todo:
            key = self.todo.pop()
            self._emit_rest_point(key)
        return entry

    def _norm(self, pos: Position | None) -> Position | None:
        while pos is not None and pos.index >= len(pos.stmts):
            pos = pos.cont
        return pos

    def _pc_of(self, key: object, is_entry: bool = False) -> int:
        pc = self.pcs.get(key)
        if pc is None:
            stmt_pos = self._where(key)
            label = f"{self.routine}: {self._describe_rest(key)}"
            pc = self.slot.new_pc(label, stmt_pos)
            self.slot.rests[pc] = key
            self.pcs[key] = pc
            self.todo.append(key)
        return pc

    def _first_step(self, key: Position) -> A.Node:
        """The statement at ``key``, past declarations that are no step."""
        i = key.index
        while (
            i + 1 < len(key.stmts)
            and isinstance(key.stmts[i], A.LocalDecl)
            and self._is_noop_decl(Position(key.stmts, i, key.cont, key.frame), key.stmts[i])
        ):
            i += 1
        return key.stmts[i]

    def _where(self, key: object) -> A.Pos:
        if isinstance(key, (AttachWait, InCall, Waiting)):
            return key.call.pos
        if isinstance(key, Position):
            return self._first_step(key).pos
        return self.pos

    def _describe_rest(self, key: object) -> str:
        if isinstance(key, AttachWait):
            return "in NmrClientAttachProvider, waiting for ProviderAttachClient"
        if isinstance(key, InCall):
            return f"in {unparse(key.call)}, while NMR runs callbacks inside the call"
        if isinstance(key, Waiting):
            what = "the references" if key.what == "rundown" else "the older epochs"
            return f"in {unparse(key.call)}, waiting for {what}"
        if isinstance(key, Position):
            stmt = self._first_step(key)
            text = _first_line(unparse(stmt))
            if isinstance(stmt, A.If) and stmt.then:
                text += " { " + _first_line(unparse(stmt.then[0])) + " ..."
            return text
        return "return"

    def _emit_rest_point(self, key: object) -> None:
        pc = self.pcs[key]
        self.scope = self.base_scope
        if isinstance(key, AttachWait):
            results = api.attach_return(self.c, self, key)
        elif isinstance(key, InCall):
            results = api.in_call_return(self.c, self, key)
        elif isinstance(key, Waiting):
            self._enter(key.frame)
            done = (
                prims.rundown_drained if key.what == "rundown" else prims.epoch_ended
            )(self.c, self, key)
            results = [x for p, t in done for x in self._settle(p, t)]
        else:
            results = self._entry(key, Path(), set())
        for path, target in results:
            self._finish(pc, path, target)

    def _finish(self, pc: int, path: Path, target: object) -> None:
        """Turn a completed path into an action leaving ``pc``."""
        if path.uninit and path.fault is None:
            reads, path.uninit = path.uninit, []
            for cond, code, msg, at in reads:
                bad, path = path.split(cond)
                if bad is not None:
                    bad.fail(code, msg, at)
                    self.c.add_step(self.slot, pc, bad, self.routine, self.scope)
                if path is None:
                    return
        if path.fault is None and target == "exit" and not getattr(path, "locks_checked", False):
            # only a thread's own routine answers for its locks, not a callback nested in it
            held = held_by_me(self.c, self, path, None)
            if self.slot.thread_var is not None:
                own = E.eq(self.c.rd(self.slot.thread_var, path), E.const(0))
                held = E.and_(own, held) if held is not E.FALSE else held
            if held is not E.FALSE:
                bad, ok = path.split(held)
                for q, leaked in ((ok, False), (bad, True)):
                    if q is None:
                        continue
                    q.locks_checked = True
                    if leaked:
                        self.c.builtin_rule(
                            "lock",
                            "a thread never takes a lock it holds, "
                            "releases only locks it holds, and returns holding none",
                        )
                        q.flag("lock", f"{self.routine} returns while holding a lock", self.pos)
                    self._finish(pc, q, target)
                return
        if path.fault is None and target == "exit":
            path = self._exit_checks(pc, path)
            if path is None:
                return
        if path.fault is None:
            if target == "exit":
                new_pc = self.slot.idle
                if self.slot.thread_var is not None:
                    path.set(self.slot.thread_var, E.const(0))
                if self.slot.id in self.c.ref_var:
                    path.set(self.c.ref_var[self.slot.id], E.FALSE)
            elif target is None:
                # falling off the end: the implicit return happens in the same step
                for p in self.exit_hook(path, self.default_status, self.pos):
                    if p.fault is None:
                        p.notes.append(self._return_note(p))
                    self._finish(pc, p, "exit")
                return
            else:
                new_pc = self._pc_of(target)
            if new_pc != pc:
                path.set(self.slot.pc, E.const(new_pc))
        self.c.add_step(self.slot, pc, path, self.routine, self.scope)

    def _exit_checks(self, pc: int, path: Path) -> Path | None:
        """A routine returns at the IRQL it started at and outside any epoch (both are
        bug checks); the faulting paths become steps here, the good one is returned."""
        ok, bad = irql.exit_raised(self, path)
        if bad is not None:
            self.c.add_step(self.slot, pc, bad, self.routine, self.scope)
        mine = self.c.epoch_vars.get(self.slot.id)
        if ok is None or mine is None:
            return ok
        out, inside = ok.split(self.c.is_(mine, "OUT", ok))
        if inside is not None:
            inside.fail(
                prims.rule(self.c, "epoch"), f"{self.routine} returns inside an epoch", self.pos
            )
            self.c.add_step(self.slot, pc, inside, self.routine, self.scope)
        return out

    def _entry(self, pos: Position | None, path: Path, seen: set) -> list[tuple[Path, object]]:
        """The first steps that can be taken from position ``pos``."""
        pos = self._norm(pos)
        if pos is None:
            # an empty remainder: an explicit return step
            self.scope = self.base_scope
            out = []
            for p in self.exit_hook(path, self.default_status, self.pos):
                p.notes.append(self._return_note(p))
                out.append((p, "exit"))
            return out
        self._enter(pos.frame)
        stmt = pos.stmts[pos.index]
        self._current_text = _first_line(unparse(stmt))
        nxt = Position(pos.stmts, pos.index + 1, pos.cont, pos.frame)
        if isinstance(stmt, A.LocalDecl) and self._is_noop_decl(pos, stmt):
            return self._entry(nxt, path, seen)  # the local already holds that value
        guard_faults: list[tuple[Path, object]] = []
        if isinstance(stmt, (A.If, A.While)) and lifetimes.uses_context(self, stmt):
            ok, faults = lifetimes.check_context(self, path, stmt.pos)
            guard_faults = [(p, "fault") for p, _ in faults]
            if ok is None:
                return guard_faults
            path = ok
        if isinstance(stmt, A.If):
            if pos in seen:
                self.c.fail(stmt.pos, "a loop without a step")
                return []
            seen = seen | {pos}
            cond = self.cond(stmt.cond, path)
            yes, no = path.split(cond)
            out = []
            if yes is not None:
                out += self._entry(Position(stmt.then, 0, nxt, pos.frame), yes, seen)
            if no is not None:
                other = Position(stmt.orelse, 0, nxt, pos.frame) if stmt.orelse else nxt
                out += self._entry(other, no, seen)
            return guard_faults + out
        if path.at is None:
            path.at = stmt.pos  # a step is labelled with the statement that runs in it
        if isinstance(stmt, A.CallStmt) and stmt.call.func == "npi_call":
            return self._npi_call_entry(stmt.call, pos, nxt, path, seen)
        if isinstance(stmt, A.While):
            cond = self.cond(stmt.cond, path)
            yes, no = path.split(cond)
            out = []
            text = f"while ({unparse(stmt.cond)})"
            if yes is not None:
                yes.notes.append(f"{text}: true")
                out.append((yes, self._norm(Position(stmt.body, 0, pos, pos.frame)) or "end"))
            if no is not None:
                no.notes.append(f"{text}: false")
                out += self._settle(no, self._norm(nxt))
            return guard_faults + [(p, None if t == "end" else t) for p, t in out]
        # an ordinary step
        mark = len(path.notes)
        steps: list[tuple[Path, object]] = []
        if lifetimes.uses_context(self, stmt):
            ok, faults = lifetimes.check_context(self, path, stmt.pos)
            steps += faults
            if ok is not None:
                steps += self.exec_stmt(stmt, ok, top=True)
        else:
            steps = self.exec_stmt(stmt, path, top=True)
        if pos.frame is not None:  # say whose code runs: the peer's function, on this thread
            who = f"{pos.frame.scope.driver.name} {pos.frame.func}: "
            for p, _o in steps:
                p.notes[mark:] = [who + n for n in p.notes[mark:]]
        return [x for p, outcome in steps for x in self._outcome(p, outcome, pos, nxt)]

    def _outcome(
        self, p: Path, outcome: object, pos: Position, nxt: Position
    ) -> list[tuple[Path, object]]:
        """Where control goes after a step of the statement at ``pos``."""
        if outcome == "next":
            return self._settle(p, self._norm(nxt))
        if outcome in ("exit", "fault"):
            return [(p, outcome)]
        if outcome == "stay":
            return [(p, pos)]
        if isinstance(outcome, Goto):
            frame = outcome.frame if outcome.frame is not None else pos.frame
            return [(p, self._norm(Position(outcome.stmts, 0, nxt, frame)))]
        if isinstance(outcome, Waiting):
            return [(p, dataclasses.replace(outcome, after=self._norm(nxt), frame=pos.frame))]
        if isinstance(outcome, AttachWait):
            return [(p, AttachWait(outcome.call, outcome.target, self._norm(nxt)))]
        if isinstance(outcome, InCall):
            return [(p, dataclasses.replace(outcome, after=self._norm(nxt)))]
        return [(p, "fault")]

    # -- NPI function bodies -------------------------------------------------------------
    def _enter(self, frame: object) -> None:
        """Compile what follows under ``frame``'s scope (None: the routine's own)."""
        self.frame = frame
        self.scope = self.base_scope if frame is None else frame.scope

    def _npi_call_atomic(self, call: A.Call, path: Path) -> list[tuple[Path, object]]:
        """``npi_call(F)`` inside an atomic block: call, body and return in one step."""
        frame = self.frame
        found = self._callee(call, frame)
        if found is None:
            return []
        body, callee = found
        out: list[tuple[Path, object]] = []
        for p, o in lifetimes.npi_call(self, call, path, begin=True):
            if o == "fault":
                out.append((p, o))
                continue
            self._enter(callee)
            done = self.exec_block(body[:-1], p)
            self._enter(frame)
            for q, o2 in done:
                out += lifetimes.npi_return(self, body[-1], q) if o2 == "next" else [(q, o2)]
        return out

    def _settle(self, path: Path, target: object) -> list[tuple[Path, object]]:
        """A step that ends an NPI function body returns from the call in the same step."""
        if not (isinstance(target, Position) and isinstance(target.stmts[target.index], NpiReturn)):
            return [(path, target)]
        end = target.stmts[target.index]
        after = self._norm(Position(target.stmts, target.index + 1, target.cont, target.frame))
        out: list[tuple[Path, object]] = []
        for p, o in lifetimes.npi_return(self, end, path):
            out += [(p, "fault")] if o == "fault" else self._settle(p, after)
        return out

    def _npi_call_entry(
        self, call: A.Call, pos: Position, nxt: Position, path: Path, seen: set
    ) -> list[tuple[Path, object]]:
        """``npi_call(F)``: the call starts in the same step as the first statement of the
        peer's function F, which runs on this thread; it returns with F's last statement."""
        found = self._callee(call, pos.frame)
        if found is None:
            return []
        body, frame = found
        out: list[tuple[Path, object]] = []
        for p, o in lifetimes.npi_call(self, call, path, begin=True):
            if o == "fault":
                out.append((p, o))
                continue
            p.notes[-1] = f"npi_call({call.args[0].id}): calls into {frame.scope.driver.name}"
            start = Position(body, 0, nxt, frame)
            if isinstance(body[0], NpiReturn):  # an empty body: call and return, one step
                out += self._settle(p, start)
            else:
                out += self._entry(start, p, seen)
        self._enter(pos.frame)
        return out

    def _callee(self, call: A.Call, frame: object) -> tuple[tuple[A.Node, ...], object] | None:
        """The body (ending in its return) and frame of the peer's function ``call`` names."""
        scope = self.scope
        if scope.binding is None:
            msg = "npi_call() needs a binding: use it in a callback or a binding task"
            self.c.fail(call.pos, msg)
            return None
        if len(call.args) != 1 or not isinstance(call.args[0], A.Name):
            msg = "npi_call() takes the name of a function of the peer: npi_call(F)"
            self.c.fail(call.pos, msg)
            return None
        name, b, side = call.args[0].id, scope.binding, scope.side
        peer_side = lifetimes.other(side)
        peer = b.side_reg(peer_side)
        decl = _dispatch_decl(peer.driver.decl, name, peer.decl.name)
        if decl is None:
            names = sorted({f.name for f in peer.driver.decl.dispatch})
            self.c.fail(
                call.args[0].pos,
                f"{peer.driver.decl.name} has no dispatch function {name!r}{suggest(name, names)}",
            )
            return None
        chain = (frame.chain if frame is not None else ()) + ((name, side),)
        if (name, side) in chain[:-1]:
            msg = f"npi_call({name}) calls back into itself (the functions are inlined)"
            self.c.fail(call.pos, msg)
            return None
        key = (name, b.id, side, chain)
        if key not in self.frames:
            sc = Scope(peer.driver, b, peer_side, serving=f"{scope.driver.name} calls {name}")
            fr = Frame(sc, name, frame, chain=chain)
            self.frames[key] = fr
            saved, self.scope = self.scope, sc
            self._collect_locals(decl.body, prefix=f"{name}.")
            self.scope = saved
            self.ends[key] = decl.body + (NpiReturn(call.pos, name, b.id, side),)
        return self.ends[key], self.frames[key]

    def blocked(self, path: Path, text: str) -> list[tuple[Path, object]]:
        """Where a wait that breaks a rule (DET-7, DRG-6) blocks, record the violation in a
        step that leaves the thread where it is, once; a wait that never returns is still
        reported as the violation it is, not only as a hang."""
        if not path.flags:
            return []
        for code, _msg, _pos in path.flags:
            path.guard = E.and_(path.guard, E.not_(self.c.rd(self.c.flag_var(code))))
        if path.guard is E.FALSE:
            return []
        path.notes.append(f"{text} (blocks)")
        return [(path, "stay")]

    def describe_here(self) -> str:
        """The statement being compiled, as one line of model text."""
        return self._current_text

    def _is_noop_decl(self, pos: Position, stmt: A.LocalDecl) -> bool:
        """A declaration is no step when it leaves the local as it is on entry: no
        initializer, or a literal one at the top of the routine before any assignment."""
        if stmt.init is None:
            return True
        if pos.stmts is not self.body:
            return False
        _idx, ty, init = self.scope.locals.get(stmt.name, (None, None, None))
        literal = isinstance(stmt.init, (A.Num, A.BoolLit)) or (
            isinstance(stmt.init, A.Name) and ty is not None and stmt.init.id in ty.labels
        )
        if not literal:
            return False
        earlier = self.body[: pos.index]
        return not any(_assigns(s, stmt.name) for s in earlier)

    # -- statements --------------------------------------------------------------------------
    def exec_block(self, stmts: tuple[A.Node, ...], path: Path) -> list[tuple[Path, object]]:
        """Run ``stmts`` symbolically inside one step (an atomic block)."""
        paths: list[tuple[Path, object]] = [(path, "next")]
        for s in stmts:
            new: list[tuple[Path, object]] = []
            for p, outcome in paths:
                if outcome != "next" or p.fault is not None:
                    new.append((p, outcome))
                else:
                    new.extend(self.exec_stmt(s, p, top=False))
            paths = new
        return paths

    def exec_stmt(self, s: A.Node, path: Path, top: bool) -> list[tuple[Path, object]]:
        self.current_pos = s.pos
        if isinstance(s, A.Assign):
            return self._assign(s, path, top)
        if isinstance(s, A.LocalDecl):
            if s.init is None:
                return [(path, "next")]
            return self._assign(A.Assign(s.pos, s.name, s.init), path, top)
        if isinstance(s, A.If):
            cond = self.cond(s.cond, path)
            yes, no = path.split(cond)
            out = []
            if yes is not None:
                out += self.exec_block(s.then, yes)
            if no is not None:
                out += self.exec_block(s.orelse or (), no)
            return out
        if isinstance(s, A.Await):
            text = f"await {unparse(s.cond)}"
            ok, out = threads.needs_passive(self.c, self, path, text, s.pos)
            if ok is None:
                return out
            cond = self.cond(s.cond, ok)
            yes, no = ok.split(cond)
            if yes is not None:
                yes.notes.append(text)
                out.append((yes, "next"))
            if no is not None and top:
                out += self.blocked(no, text)
            return out
        if isinstance(s, A.Atomic):
            if not top:
                return self.exec_block(s.body, path)
            mark = len(path.notes)
            out = self.exec_block(s.body, path)
            for p, _ in out:
                inner = "; ".join(p.notes[mark:])
                p.notes[mark:] = [f"atomic {{ {inner} }}"]
            return out
        if isinstance(s, A.Return):
            return self._return(s, path, top)
        if isinstance(s, A.CallStmt):
            if s.call.func == "npi_call" and not top:
                return self._npi_call_atomic(s.call, path)
            return self._call(s.call, path, None, top)
        if isinstance(s, A.Skip):
            path.notes.append("skip")
            return [(path, "next")]
        if isinstance(s, A.While):
            self.c.fail(s.pos, "'while' is not allowed inside an atomic block")
            return []
        self.c.fail(s.pos, "unsupported statement")
        return []

    def _assign(self, s: A.Assign, path: Path, top: bool) -> list[tuple[Path, object]]:
        if isinstance(s.value, A.Call) and not _known_function(s.value.func):
            return self._call(s.value, path, None, top)  # name the call, not the variable
        target = self.lookup_target(s.target, s.pos)
        if target is None:
            return []
        idx, ty = target
        if isinstance(s.value, A.Call):
            return self._call(s.value, path, s.target, top)
        value = self.expr(s.value, path, ty)
        return self._store(path, idx, ty, value, f"{s.target} = {unparse(s.value)}", s.pos)

    def _store(
        self, path: Path, idx: int, ty: Ty, value: Expr, note: str, pos: A.Pos
    ) -> list[tuple[Path, object]]:
        out: list[tuple[Path, object]] = []
        if ty.kind == "int" and not (value.op == "const" and ty.lo <= value.val <= ty.hi):
            ok, bad = path.split(E.and_(E.le(E.const(ty.lo), value), E.le(value, E.const(ty.hi))))
            if bad is not None:
                bad.notes.append(note)
                self.c.fault_code(
                    "range",
                    {
                        "kind": "range",
                        "text": "every assignment stays within the variable's declared range",
                    },
                )
                msg = f"value out of range {ty.lo}..{ty.hi} in '{note}'"
                out.append((bad.fail("range", msg, pos), "fault"))
            if ok is None:
                return out
            path = ok
        lifetimes.count_reference(self, path, idx, value)
        obj = self.c.var_obj.get(idx)
        if obj is not None:
            path, faults = prims.object_valid(self, obj, path, f"writes {note!r}", pos)
            out += faults
            if path is None:
                return out
        path.set(idx, value)
        self.c.mark_assigned(path, idx)
        path.notes.append(note)
        out.append((path, "next"))
        return out

    def _return(self, s: A.Return, path: Path, top: bool) -> list[tuple[Path, object]]:
        if isinstance(s.value, A.Call):
            if s.value.func == V.ATTACH_CALL:
                return self._call(s.value, path, "<return>", top)
            self.c.fail(s.value.pos, "only 'return NmrClientAttachProvider(...)' may return a call")
            return []
        if s.value is None:
            status = self.default_status
        elif (
            self.routine not in V.ROUTINES
            or self.routine == "Unload"
            or self.routine.endswith("CleanupBindingContext")
        ):
            self.c.fail(s.value.pos, f"{self.routine} returns VOID: write 'return' alone")
            return []
        else:
            status = self.expr(s.value, path, STATUS_TY)
        out = []
        for p in self.exit_hook(path, status, s.pos):
            p.notes.append(self._return_note(p))
            out.append((p, "exit" if p.fault is None else "fault"))
        return out

    def _return_note(self, p: Path) -> str:
        """'return STATUS_X' for a callback (the hook set the status), 'return' otherwise."""
        if self.routine in threads.CALLBACKS and p.status is not None:
            return f"return {p.status}"
        return "return"

    # -- calls -------------------------------------------------------------------------------
    def _call(
        self, call: A.Call, path: Path, target: str | None, top: bool
    ) -> list[tuple[Path, object]]:
        f = call.func
        if f in V.BUILTIN_CALLS:
            if target is not None and f not in V.VALUED_CALLS:
                self.c.fail(call.pos, f"{f}() has no result")
                return []
            return builtin.builtin(self.c, self, call, path, target, top)
        if f not in V.NMR_CALLS:
            known = sorted(V.NMR_CALLS | V.BUILTIN_CALLS)
            what = "NMR call" if f.lower().startswith("nmr") else "function"
            self.c.fail(call.pos, f"unknown {what} {f!r}{suggest(f, known)}")
            return []
        return api.call(self.c, self, call, path, target, top)

    def assign_result(
        self, path: Path, target: str | None, status: int, pos: A.Pos | None = None
    ) -> None:
        """Store an NMR call's status in ``target`` (a status local or variable)."""
        if target is None or target == "<return>":
            return
        t = self.lookup_target(target, None)
        if t is None:
            return
        idx, ty = t
        if ty != STATUS_TY:
            self.c.fail(pos or self.current_pos, f"{target!r} must be NTSTATUS to receive a status")
            return
        path.set(idx, E.const(status))
        self.c.mark_assigned(path, idx)

    # -- expressions -----------------------------------------------------------------------
    def lookup_target(self, name: str, pos: A.Pos | None) -> tuple[int, Ty] | None:
        if name in self.scope.locals:
            idx, ty, _ = self.scope.locals[name]
            return idx, ty
        found = self.c.lookup_var(self.scope, name)
        if found is None:
            if pos is not None:
                self.c.fail(pos, self.c.unknown_name(self.scope, name, "variable", self._names()))
            return None
        return found

    def _names(self) -> list[str]:
        return list(self.scope.locals) + self.c.var_names(self.scope)

    def cond(self, node: A.Node, path: Path) -> Expr:
        return self.expr(node, path, BOOL)

    def expr(self, node: A.Node, path: Path, want: Ty | None) -> Expr:
        e, ty = expressions.expr(self.c, node, self, path, want)
        if want is not None and not _compatible(want, ty):
            self.c.fail(node.pos, f"expected {want}, found {ty}")
        return e


@dataclass(frozen=True)
class NpiReturn(A.Node):
    """The end of an NPI function body: the call returns to its caller."""

    func: str
    binding: int
    side: str  # the caller's side

    @property
    def text(self) -> str:
        return f"npi_call({self.func}) returns"


def _dispatch_decl(d: A.DriverDecl, name: str, reg: str) -> A.DispatchDecl | None:
    """Driver ``d``'s dispatch function ``name`` for registration ``reg`` (specific first)."""
    generic = None
    for f in d.dispatch:
        if f.name == name:
            if f.reg == reg:
                return f
            if f.reg is None:
                generic = f
    return generic


def _known_function(name: str) -> bool:
    return name in V.NMR_CALLS or name in V.BUILTIN_CALLS


def _compatible(want: Ty, got: Ty) -> bool:
    if want.kind == "int":
        return got.kind == "int"
    if want.kind == "enum":
        return got.kind == "enum" and got.labels == want.labels
    return want.kind == got.kind


def _children(s: A.Node) -> list[tuple[A.Node, ...]]:
    if isinstance(s, A.If):
        return [s.then] + ([s.orelse] if s.orelse else [])
    if isinstance(s, (A.While, A.Atomic)):
        return [s.body]
    return []


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def fail_all(findings: list[Finding]) -> None:
    if findings:
        raise InputError(findings)


def _assigns(stmt: A.Node, name: str) -> bool:
    """Whether ``stmt`` (or a statement inside it) assigns local ``name``."""
    stack = [stmt]
    while stack:
        s = stack.pop()
        if isinstance(s, A.Assign) and s.target == name:
            return True
        if isinstance(s, A.LocalDecl) and s.name == name and s.init is not None:
            return True
        for sub in _children(s):
            stack.extend(sub)
    return False
