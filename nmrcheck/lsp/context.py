"""Where the cursor is in a .nmr text: in which driver, routine and blocks, read from the
braces alone, so that it works while the text does not parse (as it is being typed)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_COMMENT_OR_STRING = re.compile(r"//[^\n]*|/\*.*?(?:\*/|$)|\"[^\"\n]*\"?", re.S)
_DRIVER = re.compile(r"\bdriver\s+([A-Za-z_]\w*)\s*(?:\[\s*\d+\s*\])?\s*$")
_TASK = re.compile(r"\b(binding\s+)?(task|workitem)\s+([A-Za-z_]\w*)"
                   r"(?:\s+for\s+([A-Za-z_]\w*))?(?:\s+when\b.*)?\s*$", re.S)
_ROUTINE = re.compile(r"\b([A-Za-z_]\w*)(?:\s+for\s+([A-Za-z_]\w*))?\s*$")
_WORD = re.compile(r"(?:REG|ATT|CALL|DET|CLN|DRG)-\d+\b|[A-Za-z_]\w*")


def blank(text: str) -> str:
    """``text`` with comments and strings replaced by spaces (newlines kept), so that offsets
    stay where they were."""
    return _COMMENT_OR_STRING.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


@dataclass(frozen=True)
class Routine:
    """The routine, task or work item around the cursor."""

    name: str
    reg: str | None = None  # ``for REG``
    task: str | None = None  # "task" or "workitem" for a task or work item
    per_binding: bool = False


@dataclass(frozen=True)
class Context:
    """The cursor's surroundings: depth 0 is the top level, 1 a driver's members, 2 and more
    inside a routine."""

    depth: int
    driver: str | None = None
    routine: Routine | None = None
    atomic: bool = False
    line_before: str = ""  # the text of the cursor's line before it
    headers: tuple[str, ...] = field(default=())


def offset(text: str, line: int, col: int) -> int:
    """The offset of 0-based (line, column in code points), clamped to the text."""
    lines = text.split("\n")
    line = min(max(line, 0), len(lines) - 1)
    return sum(len(x) + 1 for x in lines[:line]) + min(col, len(lines[line]))


def at(text: str, line: int, col: int) -> Context:
    """The context of position (line, col) of ``text`` (0-based, code points)."""
    clean = blank(text)
    end = offset(text, line, col)
    stack: list[str] = []
    last = 0  # where the current header starts
    for i, ch in enumerate(clean[:end]):
        if ch == "{":
            stack.append(clean[last:i])
            last = i + 1
        elif ch == "}":
            if stack:
                stack.pop()
            last = i + 1
        elif ch == ";":
            last = i + 1
    return _context(stack, clean[clean.rfind("\n", 0, end) + 1:end])


def _context(stack: list[str], before: str) -> Context:
    driver = routine = None
    if stack:
        m = _DRIVER.search(stack[0])
        driver = m.group(1) if m else None
    if len(stack) > 1:
        routine = _routine(stack[1])
    atomic = any(re.search(r"\batomic\s*$", h) for h in stack[2:])
    return Context(len(stack), driver, routine, atomic, before, tuple(stack))


def _routine(header: str) -> Routine | None:
    m = _TASK.search(header)
    if m:
        return Routine(m.group(3), m.group(4), m.group(2), bool(m.group(1)))
    m = _ROUTINE.search(header)
    return Routine(m.group(1), m.group(2)) if m else None


def word_at(text: str, line: int, col: int) -> tuple[str, int, int] | None:
    """The word (a name or an obligation id) under (line, col): (word, start col, end col)."""
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        return None
    for m in _WORD.finditer(lines[line]):
        if m.start() <= col <= m.end():
            return m.group(0), m.start(), m.end()
    return None
