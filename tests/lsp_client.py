"""A minimal LSP client: JSON-RPC with Content-Length framing over a child's stdio."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from support import ROOT


class LspClient:
    """Start ``nmrcheck lsp`` and exchange LSP messages with it."""

    def __init__(self, *args: str):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "nmrcheck", "lsp", *args],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.inbox: queue.Queue[dict] = queue.Queue()
        self.notes: list[dict] = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
            body = out.read(int(headers["content-length"]))
            self.inbox.put(json.loads(body))

    def send(self, message: dict) -> None:
        data = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict, timeout: float = 30.0):
        self.next_id += 1
        rid = self.next_id
        self.send({"id": rid, "method": method, "params": params})
        msg = self._wait(lambda m: m.get("id") == rid and "method" not in m, timeout)
        assert "error" not in msg, msg
        return msg.get("result")

    def _wait(self, match, timeout: float) -> dict:
        end = time.monotonic() + timeout
        for m in self.notes:
            if match(m):
                self.notes.remove(m)
                return m
        while True:
            try:
                m = self.inbox.get(timeout=max(end - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no such message in {timeout} s; had {self.notes}") from None
            if match(m):
                return m
            self.notes.append(m)

    def diagnostics(self, uri: str, match=lambda diags: True, timeout: float = 30.0) -> list:
        """The next diagnostics published for ``uri`` that ``match``."""
        m = self._wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                       and m["params"]["uri"] == uri and match(m["params"]["diagnostics"]),
                       timeout)
        return m["params"]["diagnostics"]

    def start(self, options: dict | None = None) -> dict:
        result = self.request("initialize", {"processId": os.getpid(), "rootUri": None,
                                             "capabilities": {},
                                             "initializationOptions": options or {}})
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.resolve().as_uri()
        text = path.read_text() if text is None else text
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "nmr", "version": 1, "text": text}})
        return uri

    def stop(self) -> int:
        self.request("shutdown", {})
        self.notify("exit", {})
        try:
            return self.proc.wait(30)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc.stdin.close()
