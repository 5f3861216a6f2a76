"""``nmrcheck graph MODEL``: explore a small model and print (or draw) its reachable graph."""

from __future__ import annotations

import argparse
from typing import TextIO

from nmrcheck import inputs
from nmrcheck.commands import EXIT_OK, outputs
from nmrcheck.commands.check import load_model
from nmrcheck.engines.explicit.search import Limits
from nmrcheck.errors import InputError

DOT_STATE_LIMIT = 5000


def _draw_svg(dot_text: str, path: str) -> None:
    """Run Graphviz on ``dot_text`` and write SVG to ``path``."""
    import shutil
    import subprocess

    exe = shutil.which("dot")
    if exe is None:
        raise InputError("--svg needs Graphviz's 'dot' (apt-get install graphviz); "
                         "--dot prints the DOT text instead")
    proc = subprocess.run([exe, "-Tsvg", "-o", path], input=dot_text, text=True,
                          capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise InputError(f"Graphviz failed: {proc.stderr.strip()[:200]}")


def cmd_graph(args: argparse.Namespace, out: TextIO) -> int:
    """Explore ``args.model`` whole and print its graph's figures, its DOT text or an SVG."""
    from nmrcheck.engines.explicit.graph import to_networkx
    from nmrcheck.engines.explicit.search import explore
    from nmrcheck.report import dot

    inputs.preflight_graph(args)
    ts = load_model(args, args.model)
    limit = args.max_states or DOT_STATE_LIMIT
    ex = explore(ts, Limits(limit + 1, args.timeout), keep_edges=True)
    if not ex.complete:
        raise InputError(
            f"{args.model}: more than {limit} states; the graph is for small models "
            "(raise --max-states to draw more)"
        )
    g = to_networkx(ts, ex)
    highlight = None
    if args.property:
        names = [p.name for p in ts.properties]
        if args.property not in names:
            from nmrcheck.nmr.design import suggest

            raise InputError(f"unknown property {args.property!r}{suggest(args.property, names)}")
        pi = names.index(args.property)
        j = ex.found.get(pi)
        if j is not None:
            highlight = []
            while j >= 0:
                highlight.append(j)
                j = ex.parent[j]
            highlight.reverse()
    if args.svg:
        _draw_svg(dot.render(ts, g, highlight), args.svg)
        out.write(f"{args.model}: {g.number_of_nodes()} states drawn to {args.svg}\n")
        return EXIT_OK
    if args.dot:
        text_out = dot.render(ts, g, highlight)
    else:
        import networkx as nx

        sccs = nx.number_strongly_connected_components(g)
        dead = sum(1 for n in g.nodes if g.out_degree(n) == 0)
        text_out = (
            f"{args.model}: {g.number_of_nodes()} states, {g.number_of_edges()} edges, "
            f"{sccs} strongly connected components, {dead} states without successors\n"
        )
    if args.output:
        with outputs.writing(args.output), open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text_out)
    else:
        out.write(text_out)
    return EXIT_OK
