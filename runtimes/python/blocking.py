"""Blocking waits for modules on the shared runtime.

A module's `serve` blocks the way ceph-mgr modules do: `threading.Event().wait(t)`,
`threading.Condition().wait(t)`, `time.sleep(t)`. Here each of those becomes the
host's `inbox.wait`, which hands over the calls the host held for the module
(notifies, commands, HTTP requests, shutdown); they run inside the wait, and the
wait goes on until its event is set or its time is up. Outside `serve` the host
hands nothing over and a wait only sleeps.
"""

import errno
import threading
import time
import traceback

from wit_world.imports import inbox, mgr, types

# Longest single host wait; a longer one is several.
_SLICE_MS = 3_600_000

_dispatch = None
# Calls run inside waits so far: a condition's waiter wakes after one, since only
# such a call can have notified it.
_dispatched = 0


_deferred = []


def defer(call) -> None:
    """Runs `call` at the module's next wait, as ceph-mgr would run it from
    another thread."""
    _deferred.append(call)


def wait_for(timeout, until=None) -> bool:
    """Blocks for `timeout` seconds (None: for ever) or until `until()` is true,
    running what the host hands over meanwhile. True if `until()` became true."""
    deadline = None if timeout is None else time.monotonic() + max(0.0, float(timeout))
    while True:
        while _deferred:
            _deferred.pop(0)()
        if until is not None and until():
            return True
        if deadline is None:
            ms = _SLICE_MS
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                return until() if until is not None else False
            ms = max(1, min(_SLICE_MS, int(left * 1000 + 0.999)))
        incoming = inbox.wait(ms)
        if incoming is not None and _dispatch is not None:
            global _dispatched
            _dispatched += 1
            _dispatch(incoming)


def _event_wait(self, timeout=None):
    return wait_for(timeout, self.is_set)


def _condition_wait(self, timeout=None):
    # One thread: only a call handed over inside the wait can notify; wake after
    # one ran (True) or when the time is up (False).
    before = _dispatched
    return wait_for(timeout, lambda: _dispatched != before)


def _condition_wait_for(self, predicate, timeout=None):
    return wait_for(timeout, predicate)


def _sleep(seconds):
    wait_for(seconds)


def install(dispatch) -> None:
    """Routes the standard library's blocking waits through the host."""
    global _dispatch
    _dispatch = dispatch
    threading.Event.wait = _event_wait
    threading.Condition.wait = _condition_wait
    threading.Condition.wait_for = _condition_wait_for
    time.sleep = _sleep


def command_failed(what: str) -> types.CommandResult:
    """The answer to a command whose handler raised: -EINVAL with the traceback, as
    ceph-mgr answers; the traceback also goes to the host log."""
    report = traceback.format_exc()
    mgr.log(mgr.LogLevel.ERROR, f"{what} raised:\n{report}")
    return types.CommandResult(retval=-errno.EINVAL, stdout="", stderr=report)


def log_failure(what: str) -> None:
    """Logs the exception being handled, with its traceback."""
    mgr.log(mgr.LogLevel.ERROR, f"{what} raised:\n{traceback.format_exc()}")
