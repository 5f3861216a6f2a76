"""Compile a TransitionSystem into fast Python functions over packed-integer states.

A state is one Python int: variable ``i`` occupies ``bits[i]`` bits at ``offset[i]`` and
stores ``value - lo``. The generated source contains only IR node kinds, variable offsets and
integers: nothing a user wrote is ever part of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nmrcheck.ir import TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.walkers import to_python


@dataclass
class Layout:
    """Where each variable lives in a packed state."""

    offset: list[int]
    bits: list[int]
    lo: list[int]

    @classmethod
    def of(cls, ts: TransitionSystem) -> Layout:
        offset, bits, lo = [], [], []
        pos = 0
        for v in ts.vars:
            offset.append(pos)
            bits.append(v.bits)
            lo.append(v.lo)
            pos += v.bits
        return cls(offset, bits, lo)

    def read_src(self, i: int, s: str = "s") -> str:
        mask = (1 << self.bits[i]) - 1
        core = f"({s} & {mask})" if self.offset[i] == 0 else f"(({s} >> {self.offset[i]}) & {mask})"
        return f"({core} + {self.lo[i]})" if self.lo[i] else core

    def pack(self, values: Sequence[int]) -> int:
        s = 0
        for i, v in enumerate(values):
            s |= (v - self.lo[i]) << self.offset[i]
        return s

    def unpack(self, s: int) -> tuple[int, ...]:
        return tuple(
            ((s >> o) & ((1 << b) - 1)) + lo for o, b, lo in zip(self.offset, self.bits, self.lo)
        )

    @property
    def total_bits(self) -> int:
        return (self.offset[-1] + self.bits[-1]) if self.offset else 0


@dataclass
class Compiled:
    """The generated functions of one system."""

    layout: Layout
    successors: Callable[[int], tuple[list[tuple[int, int]], int]]
    busy: Callable[[int], int]
    checks: list[Callable[[int], bool]]  # one predicate per property: True where it holds
    source: str
    found: Callable[[int, int], int]  # bits of the properties found in a state, minus skip


def _key(guard: Expr) -> tuple[int, int, Expr] | None:
    """The first ``var == const`` conjunct of ``guard``: (var, value, rest of the guard)."""
    parts = E.conjuncts(guard)
    for k, c in enumerate(parts):
        if c.op == "eq" and c.args[0].op == "var" and c.args[1].op == "const":
            rest = E.and_(*(parts[:k] + parts[k + 1 :]))
            return c.args[0].val, c.args[1].val, rest
        if c.op == "var" and c.type == E.BOOL:
            rest = E.and_(*(parts[:k] + parts[k + 1 :]))
            return c.val, 1, rest
    return None


def compile_system(ts: TransitionSystem) -> Compiled:
    """Generate and compile the successor, busy and property functions of ``ts``."""
    lay = Layout.of(ts)

    def read(i: int) -> str:
        return lay.read_src(i)

    lines = ["def successors(s):", "    out = []", "    en = 0"]
    halted = to_python(ts.halted, read)
    if ts.halted is not E.FALSE:
        lines += [f"    if {halted}:", "        return out, -1"]
    groups: dict[int, dict[int, list[tuple[int, Expr]]]] = {}
    loose: list[tuple[int, Expr]] = []
    for ai, a in enumerate(ts.actions):
        k = _key(a.guard)
        if k is None:
            loose.append((ai, a.guard))
        else:
            groups.setdefault(k[0], {}).setdefault(k[1], []).append((ai, k[2]))

    def emit_action(ai: int, guard: Expr, indent: str) -> None:
        a = ts.actions[ai]
        clear = 0
        const = 0
        dyn = []
        for i, e in a.updates:
            clear |= ((1 << lay.bits[i]) - 1) << lay.offset[i]
            if e.op == "const":
                const |= (e.val - lay.lo[i]) << lay.offset[i]
            else:
                val = to_python(e, read)
                if lay.lo[i]:
                    val = f"({val} - {lay.lo[i]})"
                dyn.append(f"({val} << {lay.offset[i]})" if lay.offset[i] else val)
        new = f"(s & {~clear})" if clear else "s"
        if const:
            new += f" | {const}"
        for d in dyn:
            new += f" | {d}"
        body = indent
        if guard is not E.TRUE:
            lines.append(f"{indent}if {to_python(guard, read)}:")
            body = indent + "    "
        lines.append(f"{body}out.append(({ai}, {new}))")
        if a.slot >= 0:
            lines.append(f"{body}en |= {1 << a.slot}")

    for var in sorted(groups):
        lines.append(f"    v = {read(var)}")
        first = True
        for val in sorted(groups[var]):
            lines.append(f"    {'if' if first else 'elif'} v == {val}:")
            first = False
            for ai, rest in groups[var][val]:
                emit_action(ai, rest, "        ")
    for ai, g in loose:
        emit_action(ai, g, "    ")
    lines.append("    return out, en")

    lines += ["", "def busy(s):", "    b = 0"]
    for k, slot in enumerate(ts.slots):
        lines.append(f"    if {read(slot.pc)} != {slot.idle}:")
        lines.append(f"        b |= {1 << k}")
    lines.append("    return b")
    for pi, p in enumerate(ts.properties):
        lines += ["", f"def prop_{pi}(s):", f"    return {to_python(p.expr, read)}"]
    # one call per new state: the bit of each property that is found there (an invariant
    # that fails, a reachable property that holds)
    lines += ["", "def found(s, skip):", "    m = 0"]
    for pi, p in enumerate(ts.properties):
        e = to_python(p.expr, read)
        test = f"not {e}" if p.kind == "invariant" else e
        lines += [f"    if not skip & {1 << pi} and {test}:", f"        m |= {1 << pi}"]
    lines.append("    return m")
    source = "\n".join(lines) + "\n"
    namespace: dict[str, object] = {}
    exec(compile(source, "<nmrcheck-generated>", "exec"), {"__builtins__": {}}, namespace)
    checks = [namespace[f"prop_{i}"] for i in range(len(ts.properties))]
    return Compiled(
        lay, namespace["successors"], namespace["busy"], checks, source, namespace["found"]
    )  # type: ignore[arg-type]
