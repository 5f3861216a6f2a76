"""Processes forked to work beside this one (engines/explicit/forks.py): a signal that ends
one, or a limit met in its work, is the same stop here; any other failure is an internal
error; a twin answers request after request from the state it keeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nmrcheck import control
from nmrcheck.engines.explicit import forks
from nmrcheck.errors import InternalError

pytestmark = pytest.mark.skipif(not forks.usable(), reason="needs os.fork and two cores")


class _Counter:
    """A served twin that keeps a running total (state kept between requests), and fails as
    a request says."""

    def __init__(self) -> None:
        self.total = self.spare = 0

    def enter(self) -> None:
        self.total = 100  # set in the twin only

    def serve(self, request: bytes) -> bytes:
        if request == b"sigint":
            os.kill(os.getpid(), signal.SIGINT)
        if request == b"sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        if request == b"limit":
            raise control.Stopped("time limit reached (5 s)")
        if request == b"spare":
            return str(self.spare).encode()
        if request == b"bug":
            raise ValueError("a bug in the twin")
        if request.startswith(b"parts"):
            return self._parts(int(request[5:]))
        self.total += int(request[:1])
        return str(self.total).encode() + b" " * len(request)

    def _parts(self, n: int):
        for k in range(n):
            if k == 2 and n == 9:
                raise control.Stopped("memory limit reached")
            yield str(k).encode() * 100_000

    def tidy(self) -> None:
        self.total += 1

    def idle(self) -> bool:
        self.spare += 1
        return self.spare < 1000


def test_a_twin_keeps_its_state_between_requests():
    counter = _Counter()
    twin = forks.Twin.start(counter)
    try:
        answers = []
        for k in (1, 2, 3):
            twin.ask(str(k).encode() * 200_000)  # more than a pipe holds, both ways
            answer = bytes(twin.answer())
            assert len(answer) > 200_000
            answers.append(int(answer))
        assert answers == [101, 104, 108]  # tidy ran after each answer
        assert counter.total == 0 and twin.seconds >= 0
    finally:
        twin.stop()


def test_an_answer_may_come_in_several_messages_and_a_stop_ends_them():
    twin = forks.Twin.start(_Counter())
    try:
        twin.ask(b"parts3")
        assert [bytes(twin.answer())[:2] for _ in range(3)] == [b"00", b"11", b"22"]
        twin.ask(b"1")
        assert int(twin.answer()) == 102  # tidied once, after the last message
        twin.ask(b"parts9")
        assert bytes(twin.answer())[:1] == b"0" and bytes(twin.answer())[:1] == b"1"
        with pytest.raises(control.Stopped, match="memory limit"):
            twin.answer()
    finally:
        twin.stop()


def test_a_twin_works_on_its_own_while_no_request_waits_and_stops_when_done():
    twin = forks.Twin.start(_Counter())
    try:
        time.sleep(0.3)  # far longer than 1,000 steps of idle work
        twin.ask(b"spare")
        assert twin.answer() == b"1000"
    finally:
        twin.stop()


@pytest.mark.parametrize("signum, word", [(b"sigint", "interrupted"), (b"sigterm", "terminated")])
def test_a_twin_ended_by_a_signal_is_a_stop(signum, word):
    twin = forks.Twin.start(_Counter())
    twin.ask(signum)
    with pytest.raises(control.Stopped) as stop:
        twin.answer()
    assert stop.value.interrupted and stop.value.reason.startswith(word)
    twin.stop()


def test_a_limit_met_in_a_twin_is_the_same_stop_and_a_bug_an_internal_error():
    twin = forks.Twin.start(_Counter())
    try:
        twin.ask(b"limit")
        with pytest.raises(control.Stopped) as stop:
            twin.answer()
        assert stop.value.reason == "time limit reached (5 s)" and not stop.value.interrupted
        twin.ask(b"bug")
        with pytest.raises(InternalError):
            twin.answer()
    finally:
        twin.stop()


@pytest.mark.parametrize("signum, word", [(signal.SIGINT, "interrupted"),
                                          (signal.SIGTERM, "terminated")])
def test_a_child_ended_by_a_signal_is_a_stop_not_an_internal_error(signum, word):
    """A Ctrl-C reaches the whole process group: the child may die of it before this
    process has seen its own."""
    child = forks.Child.start(lambda: os.kill(os.getpid(), signum) or b"")
    with pytest.raises(control.Stopped) as stop:
        child.result()
    assert stop.value.interrupted and stop.value.reason.startswith(word)
    child.stop()  # nothing left to do


def test_a_limit_met_in_a_child_is_the_same_stop_here():
    def work() -> bytes:
        raise control.Stopped("time limit reached (5 s)")

    child = forks.Child.start(work)
    with pytest.raises(control.Stopped) as stop:
        child.result()
    assert stop.value.reason == "time limit reached (5 s)" and not stop.value.interrupted


def test_a_twin_waiting_for_claims_its_parent_held_when_it_died_ends():
    script = (
        "import os\n"
        "from nmrcheck.engines.explicit import forks\n"
        "c = forks.Claims()\n"
        "c.reset(0, 10)\n"
        "os.read(c._r, 1)\n"  # this process holds the lock, and dies holding it
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    try:\n"
        "        c.front(1)\n"
        "    except BrokenPipeError:\n"
        "        os._exit(0)\n"
        "    os._exit(1)\n"
        "print(pid, flush=True)\n"
        "os._exit(0)\n"
    )
    # the run ends when the child has closed the stdout it inherited too: when it has ended
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=30, stdin=subprocess.DEVNULL)
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _state(child) not in ("Z", None):
        time.sleep(0.05)
    assert _state(child) in ("Z", None)  # ended (reaped, or not yet)


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0]
    except FileNotFoundError:
        return None
