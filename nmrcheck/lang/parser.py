"""Parse model (.nmr) and spec (.spec) text into the syntax tree, with positioned errors.

Parsing is pure data handling: nothing in the input is ever evaluated as Python.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from pathlib import Path

import lark
from lark import Token, v_args
from lark.visitors import Transformer_NonRecursive

from nmrcheck.errors import Finding, InputError
from nmrcheck.lang import ast as A

MAX_BYTES = 4 * 1024 * 1024
# The deepest nesting of blocks and expressions a model or spec may have. Every walker of the
# syntax tree and of the expressions compiled from it may then recurse freely. Chains of
# `&&` or `||` are folded into balanced trees, so their length is not limited.
MAX_NESTING = 100


@functools.cache
def _parser() -> lark.Lark:
    grammar = (Path(__file__).with_name("nmr.lark")).read_text(encoding="utf-8")
    cache = _grammar_cache(grammar)
    if cache is not None:
        try:
            with cache.open("rb") as f:
                return lark.Lark.load(f)
        except Exception:  # noqa: BLE001  (missing, stale or torn: build the tables anew)
            pass
    parser = lark.Lark(
        grammar,
        start=["model", "spec"],
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
    )
    if cache is not None:
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as f:
                parser.save(f)
            os.replace(tmp, cache)  # atomic: a concurrent run reads the old file or the new
        except OSError:
            tmp.unlink(missing_ok=True)
    return parser


def _grammar_cache(grammar: str) -> Path | None:
    """Where the analysed grammar is kept between runs (building the LALR tables takes a
    quarter of a second): a file in the user's own cache directory, keyed by the grammar and
    the lark and Python versions; None where there is none. Never a shared temporary
    directory, since the file is a pickle."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = hashlib.sha256(f"{lark.__version__}\0{sys.version}\0{grammar}".encode()).hexdigest()
    folder = Path(base) / "nmrcheck"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return folder / f"grammar-{key[:24]}.lark"


def read_source(path: str) -> str:
    """Read a model or spec file as UTF-8 text, or raise InputError with a one-line message."""
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError(Finding(path, 0, 0, "is a directory, not a model file"))
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(Finding(path, 0, 0, "no such file")) from None
    except OSError as exc:
        raise InputError(Finding(path, 0, 0, f"cannot read: {exc.strerror or exc}")) from None
    if len(data) > MAX_BYTES:
        raise InputError(Finding(path, 0, 0, f"file is larger than {MAX_BYTES} bytes"))
    if b"\x00" in data:
        raise InputError(Finding(path, 0, 0, "binary file (contains NUL bytes)"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(Finding(path, line, col, "not valid UTF-8 text")) from None


_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "STRING": "a string",
    "ROLE": "'client', 'provider'",
    "TASKKIND": "'dpc', 'ioworkitem', 'task', 'workitem'",
    "QUANT": "'exists', 'forall'",
    "PROPKIND": "'eventually', 'invariant', 'leads_to', 'reachable'",
    "FAIR": "'fair'",
    "STRONG": "'strong'",
    "IMPLIES": "'implies'",
    "CMPOP": "a comparison",
    "ADDOP": "'+', '-'",
    "DEFERRED": "'deferred'",
    "BINDING": "'binding'",
    "LOCKKIND": "'lock', 'pushlock'",
    "PRIMKIND": "'event', 'object', 'refcount', 'rundown', 'syncevent'",
}


def _describe(parser: lark.Lark, names: set[str]) -> str:
    shown = []
    for n in sorted(names):
        if n.startswith("$"):
            shown.append("end of file")
            continue
        try:
            pat = parser.get_terminal(n).pattern
        except KeyError:
            shown.append(n.lower())
            continue
        if pat.type == "str":
            shown.append(repr(pat.value))
        else:
            shown.append(_WORDS.get(n, n.lower()))
    shown = sorted(set(shown))
    if len(shown) > 1 and "';'" in shown:  # an empty statement is always possible: no news
        shown.remove("';'")
    if len(shown) > 8:
        shown = shown[:8] + ["..."]
    return ", ".join(shown)


def _syntax_error(file: str, text: str, exc: lark.exceptions.LarkError) -> Finding:
    parser = _parser()
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        return Finding(file, exc.line, exc.column, f"unexpected character {ch!r}")
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            line = text.count("\n") + 1
            col = len(text) - (text.rfind("\n") + 1) + 1
            msg = "unexpected end of file"
            return Finding(file, line, col, f"{msg}, expected {_describe(parser, exc.expected)}")
        hint = _hint(text, tok)
        if hint:
            return Finding(file, tok.line, tok.column, hint)
        return Finding(
            file,
            tok.line,
            tok.column,
            f"unexpected {str(tok)!r}, expected {_describe(parser, exc.expected)}",
        )
    if isinstance(exc, lark.exceptions.UnexpectedEOF):
        line = text.count("\n") + 1
        return Finding(file, line, 1, "unexpected end of file")
    return Finding(file, 0, 0, f"syntax error: {exc}")


def _word_before(text: str, offset: int) -> str:
    """The identifier that ends right before ``offset`` (spaces and comments aside)."""
    head = re.sub(r"//[^\n]*$", "", text[:offset].rstrip(), flags=re.M).rstrip()
    m = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", head)
    return m.group(0) if m else ""


def _hint(text: str, tok: Token) -> str | None:
    """A message in the language's words for a few common mistakes, else None."""
    start = getattr(tok, "start_pos", None)
    if start is None:
        return None
    if _word_before(text, start) == "int" and str(tok) != "[":
        return (
            "an int needs a range: write int[LO..HI] or LO..HI "
            "(for example 'var count: 0..3 = 0')"
        )
    return None


def _parse(text: str, file: str, start: str) -> lark.Tree:
    try:
        return _parser().parse(text, start=start)
    except lark.exceptions.UnexpectedInput as exc:
        raise InputError(_syntax_error(file, text, exc)) from None


_EMPTY = object()  # a lone ";": dropped from blocks, drivers, models and specs


class _Build(Transformer_NonRecursive):
    """Turns the lark tree into the syntax tree of nmrcheck.lang.ast."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _pos(self, meta: object) -> A.Pos:
        return A.Pos(self.file, getattr(meta, "line", 0), getattr(meta, "column", 0))

    def _tpos(self, tok: Token) -> A.Pos:
        return A.Pos(self.file, tok.line or 0, tok.column or 0)

    # -- expressions
    @v_args(meta=True)
    def number(self, meta, ch):
        return A.Num(self._pos(meta), int(ch[0]))

    @v_args(meta=True)
    def true(self, meta, ch):
        return A.BoolLit(self._pos(meta), True)

    @v_args(meta=True)
    def false(self, meta, ch):
        return A.BoolLit(self._pos(meta), False)

    @v_args(meta=True)
    def name(self, meta, ch):
        return A.Name(self._pos(meta), str(ch[0]))

    @v_args(meta=True)
    def string(self, meta, ch):
        return A.Str(self._pos(meta), str(ch[0])[1:-1])

    @v_args(meta=True)
    def or_op(self, meta, ch):
        return self._fold("||", ch)

    @v_args(meta=True)
    def and_op(self, meta, ch):
        return self._fold("&&", ch)

    def _fold(self, op: str, ch: list) -> A.Node:
        """A balanced tree of the associative ``op`` over ``ch``: depth log2(len(ch))."""
        items = list(ch)
        while len(items) > 1:
            pairs = [A.Binary(a.pos, op, a, b) for a, b in zip(items[::2], items[1::2])]
            items = pairs + items[len(pairs) * 2 :]
        return items[0]

    @v_args(meta=True)
    def not_op(self, meta, ch):
        return A.Unary(self._pos(meta), "!", ch[0])

    @v_args(meta=True)
    def neg(self, meta, ch):
        return A.Unary(self._pos(meta), "-", ch[0])

    @v_args(meta=True)
    def implies(self, meta, ch):
        return A.Binary(ch[0].pos, "=>", ch[0], ch[2])

    @v_args(meta=True)
    def compare(self, meta, ch):
        return A.Binary(ch[0].pos, str(ch[1]), ch[0], ch[2])

    @v_args(meta=True)
    def arith(self, meta, ch):
        return A.Binary(ch[0].pos, str(ch[1]), ch[0], ch[2])

    @v_args(meta=True)
    def member(self, meta, ch):
        return A.Member(ch[0].pos, ch[0], ch[1].labels)

    @v_args(meta=True)
    def set_lit(self, meta, ch):
        labels = tuple(A.Name(self._tpos(t), str(t)) for t in ch if t is not None)
        return A.SetLit(self._pos(meta), labels)

    @v_args(meta=True)
    def attr(self, meta, ch):
        return A.Attr(ch[0].pos, ch[0], str(ch[1]))

    @v_args(meta=True)
    def index(self, meta, ch):
        return A.Index(ch[0].pos, ch[0], ch[1])

    @v_args(meta=True)
    def call(self, meta, ch):
        args = tuple(c for c in ch[1:] if c is not None)
        return A.Call(self._pos(meta), str(ch[0]), args)

    @v_args(meta=True)
    def quant(self, meta, ch):
        return A.Quant(self._pos(meta), str(ch[0]), str(ch[1]), ch[2], ch[3])

    @v_args(meta=True)
    def leads_to(self, meta, ch):
        return A.LeadsTo(ch[0].pos, ch[0], ch[1])

    # -- types
    @v_args(meta=True)
    def bool_type(self, meta, ch):
        return A.TypeRef(self._pos(meta), "bool", 0, 1)

    @v_args(meta=True)
    def status_type(self, meta, ch):
        return A.TypeRef(self._pos(meta), "status")

    @v_args(meta=True)
    def handle_type(self, meta, ch):
        return A.TypeRef(self._pos(meta), "handle")

    def signed(self, ch):
        return int(ch[0])

    def neg_int(self, ch):
        return -int(ch[0])

    @v_args(meta=True)
    def int_type(self, meta, ch):
        return A.TypeRef(self._pos(meta), "int", ch[0], ch[1])

    @v_args(meta=True)
    def enum_type(self, meta, ch):
        labels = tuple(str(t) for t in ch)
        return A.TypeRef(self._pos(meta), "enum", 0, len(labels) - 1, labels)

    # -- statements
    def empty(self, ch):
        return _EMPTY

    def block(self, ch):
        return tuple(c for c in ch if c is not _EMPTY)

    @v_args(meta=True)
    def assign(self, meta, ch):
        return A.Assign(self._pos(meta), str(ch[0]), ch[1])

    @v_args(meta=True)
    def local_decl(self, meta, ch):
        return A.LocalDecl(self._pos(meta), str(ch[0]), ch[1], ch[2])

    @v_args(meta=True)
    def status_decl(self, meta, ch):
        pos = self._pos(meta)
        return A.LocalDecl(pos, str(ch[0]), A.TypeRef(pos, "status"), ch[1])

    @v_args(meta=True)
    def if_stmt(self, meta, ch):
        orelse = ch[2]
        if isinstance(orelse, A.If):
            orelse = (orelse,)
        return A.If(self._pos(meta), ch[0], ch[1], orelse)

    @v_args(meta=True)
    def while_stmt(self, meta, ch):
        return A.While(self._pos(meta), ch[0], ch[1])

    @v_args(meta=True)
    def await_stmt(self, meta, ch):
        return A.Await(self._pos(meta), ch[0])

    @v_args(meta=True)
    def atomic_stmt(self, meta, ch):
        return A.Atomic(self._pos(meta), ch[0])

    @v_args(meta=True)
    def return_stmt(self, meta, ch):
        return A.Return(self._pos(meta), ch[0])

    @v_args(meta=True)
    def call_stmt(self, meta, ch):
        return A.CallStmt(self._pos(meta), ch[0])

    @v_args(meta=True)
    def skip_stmt(self, meta, ch):
        return A.Skip(self._pos(meta))

    # -- declarations
    @v_args(meta=True)
    def npi_decl(self, meta, ch):
        return [A.NpiDecl(self._tpos(t), str(t)) for t in ch]

    @v_args(meta=True)
    def reg_decl(self, meta, ch):
        attrs = tuple(ch[4] or ())
        return A.RegDecl(
            self._pos(meta), str(ch[0]), str(ch[1]), str(ch[2]), ch[3] is not None, attrs
        )

    def reg_attrs(self, ch):
        return list(ch)

    @v_args(meta=True)
    def reg_attr(self, meta, ch):
        return A.RegAttr(self._tpos(ch[0]), str(ch[0]), ch[1])

    @v_args(meta=True)
    def attr_value(self, meta, ch):
        v = ch[0]
        if isinstance(v, int):
            return A.Num(self._pos(meta), v)
        return A.Name(self._tpos(v), str(v))

    @v_args(meta=True)
    def attr_true(self, meta, ch):
        return A.BoolLit(self._pos(meta), True)

    @v_args(meta=True)
    def attr_false(self, meta, ch):
        return A.BoolLit(self._pos(meta), False)

    @v_args(meta=True)
    def prim_decl(self, meta, ch):
        per_binding, kind, name, init, most, in_obj = ch
        return A.PrimDecl(
            self._pos(meta), str(kind), str(name), per_binding is not None, init, most, in_obj
        )

    def prim_init(self, ch):
        return ch[0]

    def prim_max(self, ch):
        return int(ch[0])

    def in_obj(self, ch):
        return str(ch[0])

    @v_args(meta=True)
    def proc_decl(self, meta, ch):
        name, *rest = ch
        body = rest[-1]
        params = tuple(str(t) for t in rest[:-1] if t is not None)
        return A.ProcDecl(self._pos(meta), str(name), params, body)

    @v_args(meta=True)
    def on_decl(self, meta, ch):
        return A.OnDecl(self._pos(meta), str(ch[0]), int(ch[1]), ch[2])

    @v_args(meta=True)
    def dispatch_decl(self, meta, ch):
        reg = str(ch[1]) if ch[1] is not None else None
        return A.DispatchDecl(self._pos(meta), str(ch[0]), reg, ch[2])

    @v_args(meta=True)
    def var_decl(self, meta, ch):
        return A.VarDecl(self._pos(meta), str(ch[1]), ch[3], ch[4], ch[0] is not None, ch[2])

    @v_args(meta=True)
    def lock_decl(self, meta, ch):
        kind = str(ch[1])
        passive = kind in ("pushlock", "mutex")
        return A.LockDecl(self._pos(meta), str(ch[2]), ch[0] is not None, passive, kind, ch[3])

    def option_value(self, ch):
        return str(ch[0])

    def opt_true(self, ch):
        return "true"

    def opt_false(self, ch):
        return "false"

    @v_args(meta=True)
    def option_decl(self, meta, ch):
        return A.OptionDecl(self._pos(meta), str(ch[0]), ch[1])

    @v_args(meta=True)
    def routine(self, meta, ch):
        reg = str(ch[1]) if ch[1] is not None else None
        return A.Routine(self._pos(meta), str(ch[0]), reg, ch[3], ch[2])

    @v_args(meta=True)
    def task_decl(self, meta, ch):
        per_binding, kind, name, reg, irql, when, body = ch
        return A.TaskDecl(
            self._pos(meta),
            str(name),
            str(kind),
            per_binding is not None,
            str(reg) if reg is not None else None,
            when,
            body,
            str(irql) if irql is not None else None,
        )

    @v_args(meta=True)
    def fair_decl(self, meta, ch):
        return A.FairDecl(self._pos(meta), str(ch[2]), ch[1] is not None)

    def instances(self, ch):
        return int(ch[0])

    @v_args(meta=True)
    def driver_decl(self, meta, ch):
        name, count, *members = ch
        members = [m for m in members if m is not _EMPTY]
        pos = self._pos(meta)
        return A.DriverDecl(
            pos,
            str(name),
            1 if count is None else count,
            tuple(m for m in members if isinstance(m, A.RegDecl)),
            tuple(m for m in members if isinstance(m, A.VarDecl)),
            tuple(m for m in members if isinstance(m, A.LockDecl)),
            tuple(m for m in members if isinstance(m, A.Routine)),
            tuple(m for m in members if isinstance(m, A.TaskDecl)),
            tuple(m for m in members if isinstance(m, A.FairDecl)),
            tuple(m for m in members if isinstance(m, A.PrimDecl)),
            tuple(m for m in members if isinstance(m, A.ProcDecl)),
            tuple(m for m in members if isinstance(m, A.OnDecl)),
            tuple(m for m in members if isinstance(m, A.DispatchDecl)),
        ), A.Pos(self.file, pos.line, pos.col)

    @v_args(meta=True)
    def model(self, meta, ch):
        npis: list[A.NpiDecl] = []
        drivers: list[A.DriverDecl] = []
        options: list[A.OptionDecl] = []
        props: list[A.PropDecl] = []
        for c in ch:
            if c is _EMPTY:
                continue
            if isinstance(c, list):
                npis.extend(c)
            elif isinstance(c, A.OptionDecl):
                options.append(c)
            elif isinstance(c, A.PropDecl):
                props.append(c)
            else:
                drivers.append(c[0])
        return A.Model(
            A.Pos(self.file, 1, 1),
            tuple(npis),
            tuple(drivers),
            "",
            tuple(options),
            tuple(props),
        )

    @v_args(meta=True)
    def prop_decl(self, meta, ch):
        return A.PropDecl(self._pos(meta), str(ch[0]), str(ch[1]), ch[2])

    @v_args(meta=True)
    def spec(self, meta, ch):
        return A.Spec(A.Pos(self.file, 1, 1), tuple(c for c in ch if c is not _EMPTY))


def _build(tree: lark.Tree, file: str, text: str):
    """The syntax tree of ``tree``, built without recursion, then held to MAX_NESTING."""
    node = _Build(file).transform(tree)
    check_nesting(node)
    return node


def _children(node: object) -> list[A.Node]:
    out: list[A.Node] = []
    for v in vars(node).values():
        if isinstance(v, A.Node):
            out.append(v)
        elif isinstance(v, tuple):
            out.extend(x for x in v if isinstance(x, A.Node))
    return out


# declarations that hold blocks without being one themselves
_CONTAINERS = (
    A.Model,
    A.Spec,
    A.DriverDecl,
    A.Routine,
    A.TaskDecl,
    A.PropDecl,
    A.ProcDecl,
    A.OnDecl,
    A.DispatchDecl,
)


def check_nesting(root: A.Node) -> None:
    """Raise InputError at the first node nested deeper than MAX_NESTING (iteratively)."""
    stack: list[tuple[A.Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            pos = node.pos
            raise InputError(
                Finding(
                    pos.file,
                    pos.line,
                    pos.col,
                    f"nesting too deep: at most {MAX_NESTING} levels of blocks and "
                    "expressions (split the statement, or use a local variable)",
                )
            )
        step = 0 if isinstance(node, _CONTAINERS) else 1
        stack.extend((c, depth + step) for c in _children(node))


def parse_model(text: str, file: str = "<model>") -> A.Model:
    """Parse model text; raises InputError with a positioned finding on a syntax error."""
    tree = _parse(text, file, "model")
    m = _build(tree, file, text)
    return A.Model(m.pos, m.npis, m.drivers, text, m.options, m.props)


def parse_spec(text: str, file: str = "<spec>") -> A.Spec:
    """Parse spec text; raises InputError with a positioned finding on a syntax error."""
    tree = _parse(text, file, "spec")
    s = _build(tree, file, text)
    return A.Spec(s.pos, s.props, text)
