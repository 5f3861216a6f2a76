"""The language server: LSP over stdio with pygls. It only translates between LSP and
:mod:`nmrcheck.lsp.analysis`.

On open and on change it publishes the errors ``nmrcheck check`` would give before it
searches; on save it runs the CLI's bounded check (``--max-states``, ``--timeout``) in a
child process and adds its verdict as information diagnostics. Settings (initialization
options, or ``nmrcheck`` in workspace/didChangeConfiguration): ``searchOnSave`` (default
true), ``maxStates`` (default 20000), ``timeout`` (seconds, default 10).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from nmrcheck import __version__
from nmrcheck.lang import ast as A
from nmrcheck.lsp import analysis as An

log = logging.getLogger(__name__)
SEVERITY = {An.ERROR: T.DiagnosticSeverity.Error,
            An.INFORMATION: T.DiagnosticSeverity.Information}
KIND = {"function": T.CompletionItemKind.Function, "callback": T.CompletionItemKind.Method,
        "keyword": T.CompletionItemKind.Keyword, "variable": T.CompletionItemKind.Variable,
        "constant": T.CompletionItemKind.Constant,
        "reference": T.CompletionItemKind.Reference}


@dataclass
class Settings:
    search_on_save: bool = True
    max_states: int = 20000
    timeout: float = 10.0

    def update(self, raw: object) -> None:
        if not isinstance(raw, dict):
            return
        raw = raw.get("nmrcheck", raw)
        if not isinstance(raw, dict):
            return
        if isinstance(raw.get("searchOnSave"), bool):
            self.search_on_save = raw["searchOnSave"]
        if isinstance(raw.get("maxStates"), int) and raw["maxStates"] > 0:
            self.max_states = raw["maxStates"]
        if isinstance(raw.get("timeout"), int | float) and raw["timeout"] > 0:
            self.timeout = float(raw["timeout"])


class NmrServer(LanguageServer):
    """The server's state: settings, and the last model that parsed for each document."""

    def __init__(self) -> None:
        super().__init__("nmrcheck", __version__)
        self.settings = Settings()
        self.models: dict[str, A.Model] = {}
        self.searches: dict[str, asyncio.Task] = {}


server = NmrServer()


def _path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _range(doc: TextDocument, line: int, col: int, end: int) -> T.Range:
    r = ServerTextRange(ServerTextPosition(line, col), ServerTextPosition(line, end))
    return doc.range_to_client_units(r)


def _diagnostics(doc: TextDocument, diags: list[An.Diag]) -> list[T.Diagnostic]:
    return [T.Diagnostic(range=_range(doc, d.line, d.col, d.end), message=d.message,
                         severity=SEVERITY[d.severity], source=d.source) for d in diags]


def _publish(ls: NmrServer, doc: TextDocument, diags: list[An.Diag]) -> None:
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
        uri=doc.uri, version=doc.version, diagnostics=_diagnostics(doc, diags)))


def _analyse(ls: NmrServer, doc: TextDocument) -> list[An.Diag]:
    """Check the document's text; remember its model when it parses."""
    path = _path(doc.uri)
    model = An.parse(doc.source, path)
    if model is not None:
        ls.models[doc.uri] = model
    try:
        diags = An.check(doc.source, path)
    except Exception as exc:  # noqa: BLE001 (a bug in nmrcheck must not stop the server)
        log.exception("check failed")
        diags = [An.Diag(0, 0, 0, f"nmrcheck internal error: {type(exc).__name__}: {exc}")]
    _publish(ls, doc, diags)
    return diags


@server.feature(T.INITIALIZE)
def initialize(ls: NmrServer, params: T.InitializeParams) -> None:
    ls.settings.update(params.initialization_options)


@server.feature(T.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: NmrServer, params: T.DidChangeConfigurationParams) -> None:
    ls.settings.update(params.settings)


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: NmrServer, params: T.DidOpenTextDocumentParams) -> None:
    _analyse(ls, ls.workspace.get_text_document(params.text_document.uri))


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: NmrServer, params: T.DidChangeTextDocumentParams) -> None:
    _cancel_search(ls, params.text_document.uri)
    _analyse(ls, ls.workspace.get_text_document(params.text_document.uri))


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: NmrServer, params: T.DidCloseTextDocumentParams) -> None:
    _cancel_search(ls, params.text_document.uri)
    ls.models.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
        uri=params.text_document.uri, diagnostics=[]))


@server.feature(T.TEXT_DOCUMENT_DID_SAVE, T.SaveOptions(include_text=False))
async def did_save(ls: NmrServer, params: T.DidSaveTextDocumentParams) -> None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    diags = _analyse(ls, doc)
    path = _path(doc.uri)
    if diags or not ls.settings.search_on_save or not path.endswith(".nmr"):
        return
    _cancel_search(ls, doc.uri)
    task = asyncio.ensure_future(_search(ls, doc, doc.version, doc.source, diags))
    ls.searches[doc.uri] = task


def _cancel_search(ls: NmrServer, uri: str) -> None:
    task = ls.searches.pop(uri, None)
    if task is not None:
        task.cancel()


async def _search(ls: NmrServer, doc: TextDocument, version: int | None, text: str,
                  fast: list[An.Diag]) -> None:
    """The bounded check of the saved file in a child process, its verdict published with
    the fast diagnostics unless the document changed meanwhile."""
    s = ls.settings
    cmd = An.search_command(_path(doc.uri), s.max_states, s.timeout)
    env = {**os.environ, "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL, env=env)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), s.timeout + 30)
    except (TimeoutError, asyncio.CancelledError):
        if proc.returncode is None:
            proc.kill()
        return
    try:
        report = json.loads(out)
    except ValueError:
        return
    if doc.version != version or doc.source != text:
        return
    _publish(ls, doc, fast + An.verdict(report, _path(doc.uri), text))


def _model(ls: NmrServer, uri: str) -> A.Model | None:
    return ls.models.get(uri)


def _where(doc: TextDocument, pos: T.Position) -> tuple[int, int]:
    p = doc.position_from_client_units(pos)
    return p.line, p.character


@server.feature(T.TEXT_DOCUMENT_HOVER)
def hover(ls: NmrServer, params: T.HoverParams) -> T.Hover | None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    line, col = _where(doc, params.position)
    found = An.hover(_model(ls, doc.uri), doc.source, line, col)
    if found is None:
        return None
    text, start, end = found
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text),
                   range=_range(doc, line, start, end))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def definition(ls: NmrServer, params: T.DefinitionParams) -> T.Location | None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    line, col = _where(doc, params.position)
    if _path(doc.uri).endswith(".spec"):
        return _in_models(ls, doc, line, col)
    model = _model(ls, doc.uri)
    if model is None:
        return None
    sym = An.definition(model, doc.source, line, col)
    if sym is None:
        return None
    return T.Location(uri=doc.uri,
                      range=_range(doc, sym.line, sym.col, sym.col + len(sym.name)))


def _in_models(ls: NmrServer, doc: TextDocument, line: int, col: int) -> T.Location | None:
    """A driver, NPI or registration named in a spec file, in the open models."""
    from nmrcheck.lsp import context

    word = context.word_at(doc.source, line, col)
    if word is None:
        return None
    for uri, model in sorted(ls.models.items()):
        other = ls.workspace.get_text_document(uri)
        sym = An.declared(model, other.source, word[0])
        if sym is not None:
            return T.Location(uri=uri, range=_range(other, sym.line, sym.col,
                                                    sym.col + len(sym.name)))
    return None


@server.feature(T.TEXT_DOCUMENT_COMPLETION,
                T.CompletionOptions(trigger_characters=["(", " "]))
def completion(ls: NmrServer, params: T.CompletionParams) -> T.CompletionList:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    line, col = _where(doc, params.position)
    items = An.complete(_model(ls, doc.uri), doc.source, line, col)
    return T.CompletionList(is_incomplete=False, items=[_item(i) for i in items])


def _item(i: An.Item) -> T.CompletionItem:
    doc = T.MarkupContent(kind=T.MarkupKind.Markdown, value=i.doc) if i.doc else None
    return T.CompletionItem(label=i.label, kind=KIND.get(i.kind), detail=i.detail or None,
                            insert_text=i.insert, documentation=doc)


def serve() -> None:
    """Speak LSP on stdin and stdout until the client says exit."""
    server.start_io()
