"""The run control: one deadline, one memory bound and one stop request for every phase."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from nmrcheck.control import Control, Stopped, check_limit_seconds, current


def test_deadline_cuts_an_abortable_busy_loop_short():
    ctl = Control(timeout=0.3)
    t0 = time.monotonic()
    with ctl.installed(), pytest.raises(Stopped) as info, ctl.abortable():
        while True:
            pass
    assert time.monotonic() - t0 < 1.5
    assert info.value.reason == "time limit 0.3 s reached"
    assert not info.value.interrupted


def test_polling_sees_the_deadline_without_an_exception():
    ctl = Control(timeout=0.05)
    time.sleep(0.1)
    assert ctl.poll() == "time limit 0.05 s reached"
    with pytest.raises(Stopped):
        ctl.check()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_an_abortable_block_and_marks_the_run_interrupted(signum):
    ctl = Control()
    with ctl.installed():
        threading.Timer(0.2, os.kill, (os.getpid(), signum)).start()
        t0 = time.monotonic()
        with pytest.raises(Stopped) as info, ctl.abortable():
            time.sleep(5)
    assert time.monotonic() - t0 < 1.5
    assert info.value.interrupted and ctl.interrupted
    assert ctl.reason.startswith("interrupted" if signum == signal.SIGINT else "terminated")


def test_a_signal_outside_an_abortable_block_is_only_recorded():
    ctl = Control()
    with ctl.installed():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert ctl.poll() == "interrupted (Ctrl-C)"


def test_stop_hooks_run_from_the_watchdog_while_the_main_thread_waits():
    ctl = Control(timeout=0.2)
    fired = threading.Event()
    with ctl.installed(), ctl.on_stop(fired.set):
        assert fired.wait(2.0)


def test_the_current_control_is_the_installed_one_and_limitless_outside():
    ctl = Control(timeout=10)
    with ctl.installed():
        assert current() is ctl
    assert current() is not ctl and current().remaining() is None


def test_timed_phases_add_up():
    ctl = Control()
    with ctl.timed("search"):
        time.sleep(0.01)
    with ctl.timed("search"):
        pass
    assert set(ctl.phases) == {"search"} and ctl.phases["search"] >= 0.01


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "0"])
def test_unusable_seconds_are_rejected(text):
    with pytest.raises(ValueError):
        check_limit_seconds(float(text))
