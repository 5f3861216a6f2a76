"""The VS Code extension: its TextMate grammar tokenises the whole catalogue as nmrcheck's own
lexer reads it (vscode-textmate and vscode-oniguruma in node), its client starts
`nmrcheck lsp`, and it packages into a .vsix with @vscode/vsce.

The node tests need the packages of editors/vscode/package.json, installed outside the
repository by `sh editors/vscode/install-node-modules.sh DIR` (.ci/run does it) and found
through NMRCHECK_NODE_MODULES or the default cache folder; without them they are skipped,
saying why."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import lark
import pytest
from support import ROOT

from nmrcheck.lsp import grammar
from nmrcheck.lsp.context import blank
from nmrcheck.lsp.knowledge import keywords
from nmrcheck.nmr import vocab as V

EXT = ROOT / "editors" / "vscode"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nmrcheck"
DEFAULT_NODE_MODULES = CACHE / "vscode-node" / "node_modules"


def node_modules() -> Path:
    """The installed node packages, or skip the test saying why."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    found = os.environ.get("NMRCHECK_NODE_MODULES")
    for folder in ([Path(found)] if found else []) + [DEFAULT_NODE_MODULES]:
        if (folder / "vscode-textmate").is_dir() and (folder / "@vscode" / "vsce").is_dir():
            return folder
    pytest.skip("the extension's node packages are not installed: run "
                f"sh editors/vscode/install-node-modules.sh {DEFAULT_NODE_MODULES.parent} "
                "(.ci/run does it when npm can reach its registry)")


def node(script: Path, *args: str, modules: Path) -> str:
    env = {**os.environ, "NODE_PATH": str(modules)}
    proc = subprocess.run(["node", str(script), *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- without node ---------------------------------------------------------------------------
def test_the_committed_grammar_is_the_generated_one():
    shipped = (EXT / "syntaxes" / "nmr.tmLanguage.json").read_text(encoding="utf-8")
    assert shipped == grammar.render(), \
        "the grammar is stale: run python3 -m nmrcheck.lsp.grammar"


def test_the_manifest_names_files_that_exist():
    pkg = json.loads((EXT / "package.json").read_text())
    langs = {lang["id"]: lang for lang in pkg["contributes"]["languages"]}
    assert langs["nmr"]["extensions"] == [".nmr"]
    for lang in langs.values():
        assert (EXT / lang["configuration"]).is_file()
    for g in pkg["contributes"]["grammars"]:
        assert (EXT / g["path"]).is_file() and g["scopeName"] == "source.nmr"
    assert (EXT / pkg["main"]).is_file()
    json.loads((EXT / "language-configuration.json").read_text())


# -- the grammar against nmrcheck's own lexer ---------------------------------------------
def lark_tokens(text: str, start: str) -> list[lark.Token]:
    """Every token of ``text`` as nmrcheck's parser lexes it (keywords included)."""
    src = (ROOT / "nmrcheck" / "lang" / "nmr.lark").read_text()
    parser = _keep_all(src)
    tree = parser.parse(text, start=start)
    return [t for t in tree.scan_values(lambda v: isinstance(v, lark.Token))]


_PARSERS: dict[str, lark.Lark] = {}


def _keep_all(src: str) -> lark.Lark:
    if src not in _PARSERS:
        _PARSERS[src] = lark.Lark(src, start=["model", "spec"], parser="lalr",
                                  keep_all_tokens=True, propagate_positions=True)
    return _PARSERS[src]


KEYWORDISH = ("keyword.", "storage.", "constant.language.boolean")


def expected(tok: lark.Token, text: str) -> tuple[str, ...] | None:
    """The scope prefixes a token must have (any of them), or None for "no keyword"."""
    word = str(tok)
    if tok.type == "NAME":
        after = text[tok.end_pos:].lstrip()
        if word in V.NMR_CALLS:
            return ("support.function.nmr-api",)
        if word in V.ROUTINES:
            return ("entity.name.function.callback",)
        if word in V.BUILTIN_CALLS and after.startswith("("):
            return ("support.function.builtin",)
        if word in V.STATUSES:
            return ("constant.language.status",)
        return None
    if tok.type == "INT":
        return ("constant.numeric",)
    if tok.type == "STRING":
        return ("string.quoted",)
    if word in keywords():
        return KEYWORDISH
    return ()


def scopes_at(lines: list, line: int, col: int) -> list[str]:
    for start, end, scopes in lines[line]:
        if start <= col < end:
            return scopes
    raise AssertionError(f"no token at {line}:{col}")


def check_file(path: Path, result: dict) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = result["lines"]
    problems = []
    if result["depth"][0] != result["depth"][1]:
        problems.append(f"{path}: the rule stack does not return to the top level")
    start = "spec" if path.suffix == ".spec" else "model"
    for tok in lark_tokens(text, start):
        want = expected(tok, text)
        scopes = scopes_at(lines, tok.line - 1, tok.column - 1)
        inner = scopes[-1]
        if want is None:
            if inner.startswith(KEYWORDISH + ("support.", "constant.language.status")):
                problems.append(f"{path}:{tok.line}:{tok.column}: name {tok!s} is {inner}")
        elif want and not inner.startswith(want):
            problems.append(f"{path}:{tok.line}:{tok.column}: {tok!s} is {inner}, not {want}")
    clean = blank(text)
    for i, (a, b) in enumerate(zip(text, clean)):
        if a != b and not a.isspace():  # inside a comment or a string
            line = text.count("\n", 0, i)
            col = i - (text.rfind("\n", 0, i) + 1)
            scope = " ".join(scopes_at(lines, line, col))
            if "comment." not in scope and "string." not in scope:
                problems.append(f"{path}:{line + 1}:{col + 1}: {a!r} is {scope}")
                break
    return problems


def test_the_grammar_tokenises_the_whole_catalogue_as_nmrcheck_lexes_it(tmp_path):
    modules = node_modules()
    gram = tmp_path / "nmr.tmLanguage.json"
    gram.write_text(grammar.render())  # the grammar of the checkout's language, as it is now
    files = sorted((ROOT / "models").rglob("*.nmr")) + sorted((ROOT / "specs").glob("*.spec"))
    assert len(files) > 20
    out = json.loads(node(EXT / "test" / "tokenize.js", str(gram), *map(str, files),
                          modules=modules))
    problems = [p for f in files for p in check_file(f, out[str(f)])]
    assert not problems, "\n".join(problems[:20])


def test_a_name_that_starts_like_a_keyword_is_not_a_keyword(tmp_path):
    modules = node_modules()
    src = tmp_path / "names.nmr"
    src.write_text("npi N\ndriver D {\n  client C of N\n  var clients: 0..2 = 0\n"
                   "  var locked: bool = false\n  Unload { clients = 1; locked = true;"
                   " s = NmrDeregisterClient(C) }\n}\n")
    gram = tmp_path / "g.json"
    gram.write_text(grammar.render())
    out = json.loads(node(EXT / "test" / "tokenize.js", str(gram), str(src), modules=modules))
    assert check_file(src, out[str(src)]) == []
    lines = out[str(src)]["lines"]
    assert scopes_at(lines, 3, 6)[-1] == "source.nmr"  # clients
    assert scopes_at(lines, 2, 2)[-1].startswith("storage.")  # client


# -- the client and the package -------------------------------------------------------------
def test_the_client_starts_nmrcheck_lsp():
    modules = node_modules()
    seen = json.loads(node(EXT / "test" / "client.js", str(EXT / "extension.js"), "{}",
                           modules=modules))
    assert seen["started"] is True
    assert seen["serverOptions"] == {"command": "nmrcheck", "args": ["lsp"]}
    langs = {d["language"] for d in seen["clientOptions"]["documentSelector"]}
    assert langs == {"nmr", "nmr-spec"}
    assert seen["clientOptions"]["initializationOptions"]["searchOnSave"] is True
    cfg = json.dumps({"nmrcheck.path": "/opt/tools/nmrcheck", "nmrcheck.maxStates": 500})
    seen = json.loads(node(EXT / "test" / "client.js", str(EXT / "extension.js"), cfg,
                           modules=modules))
    assert seen["serverOptions"]["command"] == "/opt/tools/nmrcheck"
    assert seen["clientOptions"]["initializationOptions"]["maxStates"] == 500


@pytest.mark.slow  # npm packaging, 2 s: full suite only
def test_the_extension_packages_into_a_vsix(tmp_path):
    modules = node_modules()
    out = tmp_path / "nmrcheck.vsix"
    proc = subprocess.run(["sh", str(EXT / "build-vsix.sh"), str(out), str(modules.parent)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        pkg = json.loads(z.read("extension/package.json"))
        shipped = z.read("extension/syntaxes/nmr.tmLanguage.json").decode()
    assert {"extension/extension.js", "extension/language-configuration.json",
            "extension/node_modules/vscode-languageclient/package.json"} <= names
    assert not any(re.match(r"extension/(test/|node_modules/(@vscode/vsce|vscode-textmate)/)",
                            n) for n in names)
    assert pkg["name"] == "nmrcheck" and pkg["main"] == "./extension.js"
    assert shipped == grammar.render()
    assert not (EXT / "node_modules").exists()  # built elsewhere, nothing left in the tree
