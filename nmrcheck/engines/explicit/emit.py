"""Generated Python: the one way the explicit engine turns source it wrote into functions.

Five parts of the engine write Python for the states of a model (successors and property
tests in :mod:`.codegen`, the canonicaliser and mappings in :mod:`.orbits`, stubborn sets in
:mod:`.por`, fairness and goal tests in :mod:`.liveness`). They all load it here, so the
conventions are the same: no builtins unless asked for, a file name naming the part, and
every source written to a directory when the user asks to read it (``--dump-generated``).

Model text reaches generated source only through :func:`comment` (labels, as comments) and
integers: a model file is data, never code.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

_dump: list[Path] = []  # the directory of --dump-generated, when set
_written: dict[str, int] = {}  # part -> sources written to its file so far


def dump_to(directory: str | Path | None) -> None:
    """Write every source loaded from now on under ``directory`` (``None``: stop)."""
    _dump.clear()
    _written.clear()
    if directory is not None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        _dump.append(path)


def comment(text: str) -> str:
    """``text`` as one comment line, whatever it holds (escaped: it cannot end the line)."""
    return "# " + text.encode("unicode_escape").decode("ascii")


def source(lines: Iterable[str]) -> str:
    """The module of ``lines``."""
    return "\n".join(lines) + "\n"


def load(text: str, part: str, names: dict[str, object] | None = None, *,
         builtins: bool = False) -> dict[str, object]:
    """Run the module ``text`` of ``part`` (e.g. ``"system"``) in the namespace ``names`` (a
    new one when ``None``), with Python's builtins only when ``builtins``; returns it."""
    ns: dict[str, object] = {} if names is None else names
    if not builtins:
        ns["__builtins__"] = {}
    if _dump:
        _write(text, part)
    exec(compile(text, f"<nmrcheck-{part}>", "exec"), ns)
    return ns


def _write(text: str, part: str) -> None:
    k = _written.get(part, 0)
    _written[part] = k + 1
    head = f"# nmrcheck generated: {part} #{k + 1}\n"
    with open(_dump[0] / f"{part}.py", "a" if k else "w", encoding="utf-8") as f:
        f.write(("\n\n" if k else "") + head + text)
