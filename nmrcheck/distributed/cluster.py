"""Where independent jobs run: in this process, one after the other, or as Ray tasks.

A :class:`Pool` takes jobs (a module-level function and its arguments) and gives their
results back in the order they were submitted, whatever order they finish in. The
sequential pool runs each job when its result is asked for; :class:`RayPool` submits every
job at once as a Ray task (``max_retries=1``: a task whose worker dies is run once more, and
a second death is reported as :class:`WorkerLost`). While it waits, it polls the run control,
so Ctrl-C, SIGTERM and ``--timeout`` cancel every task; :meth:`Pool.close` shuts down what
:func:`connect` started (``--ray local``) or leaves the cluster it joined.

Ray is an optional extra (``pip install 'nmrcheck[ray]'``) imported only here, and only
when ``--ray`` is given.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nmrcheck import control
from nmrcheck.errors import InputError

LOCAL = "local"
CONNECT_SECONDS = 5.0  # how long a cluster's address may take to accept a connection
WAIT_SECONDS = 0.1  # how often the pool looks at the run control while it waits
GRACE_SECONDS = 10.0  # after a limit, how long the tasks may take to return partial answers
PACKAGE = Path(__file__).resolve().parents[1]  # the nmrcheck package the driver runs


class WorkerLost(Exception):
    """A job whose Ray worker died twice (the task was retried once)."""


class Pool:
    """Jobs run in this process, in order, each when its result is asked for."""

    workers = 1
    remote = False  # jobs run in other processes

    def __init__(self) -> None:
        self._jobs: list[tuple[Callable[..., Any], tuple]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> int:
        """Queue ``fn(*args)``; returns its ticket."""
        self._jobs.append((fn, args))
        return len(self._jobs) - 1

    def result(self, ticket: int) -> Any:
        """The value of job ``ticket`` (raises what it raised)."""
        fn, args = self._jobs[ticket]
        return fn(*args)

    def cancel(self, tickets: list[int]) -> None:
        """Give up jobs whose results will not be asked for."""

    def put(self, value: Any) -> Any:
        """``value`` as a job argument shared by many jobs."""
        return value

    def close(self) -> None:
        """Release what the pool holds."""


class RayPool(Pool):
    """Jobs as Ray tasks, results in submission order."""

    remote = True

    def __init__(self, ray: Any, started: bool) -> None:
        super().__init__()
        self.ray = ray
        self.started = started
        # Ray's driver prints the cluster's error messages ("(raylet) A worker died ...") on
        # sys.stdout; the report owns stdout (written through the stream the command was
        # given), so while Ray is connected they go to stderr
        self._stdout, sys.stdout = sys.stdout, sys.stderr
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._refs: list[Any] = []
        self._remote: dict[Callable[..., Any], Any] = {}

    def submit(self, fn: Callable[..., Any], *args: Any) -> int:
        task = self._remote.get(fn)
        if task is None:
            task = self._remote[fn] = self.ray.remote(max_retries=1, num_cpus=1)(fn)
        self._refs.append(task.remote(*args))
        return len(self._refs) - 1

    def put(self, value: Any) -> Any:
        return self.ray.put(value)

    def result(self, ticket: int) -> Any:
        """The value of job ``ticket``. On Ctrl-C or SIGTERM every task is cancelled at once
        (:class:`control.Stopped`); on a limit the tasks, which keep the same deadline, get
        :data:`GRACE_SECONDS` to return what they decided."""
        ref = self._refs[ticket]
        ctl = control.current()
        stopped_at = None
        while True:
            ready, _ = self.ray.wait([ref], timeout=WAIT_SECONDS)
            if ready:
                break
            if ctl.poll():
                stopped_at = stopped_at or time.monotonic()
                if ctl.interrupted or time.monotonic() - stopped_at > GRACE_SECONDS:
                    self.cancel(list(range(len(self._refs))))
                    raise control.Stopped(ctl.reason, ctl.interrupted)
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            raise control.Stopped(ctl.reason or "cancelled", ctl.interrupted) from None
        except self.ray.exceptions.RayTaskError as exc:
            raise exc.as_instanceof_cause() from None
        except (self.ray.exceptions.WorkerCrashedError,
                self.ray.exceptions.NodeDiedError,
                self.ray.exceptions.LocalRayletDiedError) as exc:
            raise WorkerLost(type(exc).__name__) from None

    def cancel(self, tickets: list[int]) -> None:
        for k in tickets:
            try:
                self.ray.cancel(self._refs[k], force=True)
            except Exception:  # noqa: BLE001 (a task that already finished cannot be cancelled)
                pass

    def close(self) -> None:
        try:
            with _ray_logs_muted():
                self.cancel(list(range(len(self._refs))))
                self.ray.shutdown()
        finally:
            sys.stdout = self._stdout


def connect(address: str | None) -> Pool:
    """A pool for ``--ray ADDRESS``: None runs in this process; ``local`` starts Ray on
    this machine with its cores; any other address joins that cluster. An address that
    cannot be reached, or a missing Ray, is an :class:`InputError` (one line, exit 2)."""
    if address is None:
        return Pool()
    address = address.strip()
    if not address:
        raise InputError("usage: --ray takes an address, or 'local' to start Ray here")
    loopback = address == LOCAL or _is_loopback(address)
    if loopback:  # keep a cluster on this machine on 127.0.0.1 (Ray would use the LAN address)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if address != LOCAL:
        _reachable(address)
        if _token_file() and "RAY_AUTH_MODE" not in os.environ:
            os.environ["RAY_AUTH_MODE"] = "token"  # a cluster started here uses the token
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'nmrcheck[ray]'") from None
    try:
        _init(ray, address, loopback)
    except Exception as exc:  # noqa: BLE001 (Ray raises many kinds; each is one line here)
        ray.shutdown()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"--ray {address}: cannot use the Ray cluster: {first}") from None
    return RayPool(ray, address == LOCAL)


def _init(ray: Any, address: str, loopback: bool) -> None:
    """``ray.init`` for ``address``, with this nmrcheck's code on the workers' path."""
    common = dict(log_to_driver=False, logging_level="ERROR", configure_logging=True)
    if address == LOCAL:  # its processes inherit this environment: the driver's nmrcheck first
        path = [str(PACKAGE.parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(
            os.pathsep) if p and p != str(PACKAGE.parent)]
        os.environ["PYTHONPATH"] = os.pathsep.join(path)
        ray.init(address=LOCAL, num_cpus=os.cpu_count() or 1, include_dashboard=False,
                 _node_ip_address="127.0.0.1", **common)
    elif loopback:  # workers of this machine: the driver's folder is on their path (Ray's own)
        ray.init(address=address, **common)
    else:  # workers elsewhere get this nmrcheck package uploaded
        ray.init(address=address, runtime_env={"py_modules": [str(PACKAGE)]}, **common)


@contextlib.contextmanager
def _ray_logs_muted() -> Iterator[None]:
    """Standard error (the descriptor) to /dev/null: while tasks are cancelled and the
    driver leaves, Ray's C++ core writes its own races there (``task_manager.cc: Failed to
    push error to driver for task ...``), which say nothing to a user; nmrcheck prints
    nothing meanwhile. Ray's log files keep them."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _token_file() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or (Path.home() / ".ray" / "auth_token").is_file())


def _host_port(address: str) -> tuple[str, int] | None:
    """The host and port of ``address`` (``[ray://]host:port``), or None (``auto``)."""
    rest = address.split("://", 1)[1] if "://" in address else address
    if rest == "auto":
        return None
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise InputError(f"--ray {address}: not an address (HOST:PORT, ray://HOST:PORT, "
                         "auto or local)")
    return host.strip("[]"), int(port)


def _is_loopback(address: str) -> bool:
    hp = _host_port(address)
    if hp is None:
        return False
    if hp[0] == "localhost":
        return True
    try:
        return ipaddress.ip_address(hp[0]).is_loopback
    except ValueError:
        return False


def _reachable(address: str) -> None:
    """Raise InputError unless ``address`` accepts a TCP connection soon (Ray itself would
    retry for minutes)."""
    hp = _host_port(address)
    if hp is None:
        return
    start = time.monotonic()
    try:
        with socket.create_connection(hp, timeout=CONNECT_SECONDS):
            pass
    except OSError as exc:
        waited = time.monotonic() - start
        why = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError):
            why = f"no answer in {waited:.0f} s"
        raise InputError(f"--ray {address}: cannot reach the Ray cluster ({why})") from None
