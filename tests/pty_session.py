"""Drive a command through a pseudo-terminal, as a person at a terminal would."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from support import ROOT


class PtySession:
    """A child process whose stdin, stdout and stderr are one pseudo-terminal."""

    def __init__(self, *args: str):
        master, slave = pty.openpty()
        env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "nmrcheck", *args], cwd=ROOT,
                                     stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True)
        os.close(slave)
        self.fd = master
        self.seen = ""  # everything read so far
        self.pos = 0  # where the next expect() starts looking

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """Read until ``text`` appears; returns what came before it (since the last match)."""
        end = time.monotonic() + timeout
        while text not in self.seen[self.pos:]:
            left = end - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{text!r} did not appear; the screen:\n{self.seen}")
        i = self.seen.index(text, self.pos)
        before = self.seen[self.pos:i]
        self.pos = i + len(text)
        return before

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the child closed the terminal
            return False
        self.seen += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return bool(data)

    def send(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def close(self, timeout: float = 30.0) -> int:
        """Wait for the child to exit; its exit code."""
        while self._read(0.2):
            pass
        try:
            return self.proc.wait(timeout)
        finally:
            os.close(self.fd)
