"""A seeded mutator of model text: deleted, duplicated and swapped tokens and lines, cuts."""

from __future__ import annotations

import random
import re

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|//[^\n]*|\"[^\"\n]*\"|\.\.|==|!=|<=|>=|&&|\|\||\S")


def mutate(text: str, rng: random.Random) -> str:
    """One random mutation of ``text``."""
    kind = rng.randrange(8)
    if kind < 4:
        toks = [(m.start(), m.end()) for m in TOKEN.finditer(text)]
        if not toks:
            return text
        i = rng.randrange(len(toks))
        a, b = toks[i]
        if kind == 0:  # delete a token
            return text[:a] + text[b:]
        if kind == 1:  # duplicate a token
            return text[:b] + " " + text[a:b] + text[b:]
        if kind == 2:  # swap two tokens
            j = rng.randrange(len(toks))
            (a, b), (c, d) = sorted([toks[i], toks[j]])
            if b > c:
                return text
            return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
        # replace a token by another one of the text
        c, d = toks[rng.randrange(len(toks))]
        return text[:a] + text[c:d] + text[b:]
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    if kind == 4:
        del lines[i]
    elif kind == 5:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif kind == 6:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        return text[: rng.randrange(len(text) + 1)]
    return "\n".join(lines)
