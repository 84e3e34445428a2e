"""Interrupts, and what the run has done so far.

SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, systemd, CI runners) and SIGHUP (a closed terminal)
all raise `Interrupted` where the run is, so every cleanup on the way out runs alike: staging
folders go, a pending CertificateSigningRequest is withdrawn, a running openssl or kubectl is
stopped. Steps that must happen together (a user's folder moved into place and its ledger line)
run in a `critical()` section: a signal that arrives there waits until they are done.

In apply, where threads work, a signal only marks the run cancelled (see cooperative); every
child process is waited for in steps of STEP (process.py), so the worker that started it sees
the mark within a fraction of a second (`stops_here`), stops the child and unwinds as an
interrupt does: a hanging kubectl or an RSA-8192 key stops at once, not when it is done. A child
started to undo something (inside `critical()`, such as withdrawing a CertificateSigningRequest)
runs to its end.

The journal lists what the run changed for good (a folder written, a binding deleted), so the
message after an interrupt says exactly that, and "nothing was written" only when it is true.
"""

import signal
import threading
import time
from contextlib import contextmanager

from .errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_state = {"critical": 0, "pending": None, "cooperative": False, "cancelled": None}
_journal = []
_thread = threading.local()  # .critical: this thread's depth of critical() sections
STEP = 0.1  # seconds between two looks at the cancel mark while a child runs or a wait lasts


def _raise(signum, _frame):
    name = signal.Signals(signum).name
    if _state["cooperative"]:
        _state["cancelled"] = _state["cancelled"] or name
        return
    if _state["critical"]:
        _state["pending"] = _state["pending"] or name
        return
    raise Interrupted(name)


@contextmanager
def handled():
    """Turn the three signals into Interrupted for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def critical():
    """Steps that must not be torn apart by a signal; one that came meanwhile is raised after."""
    _state["critical"] += 1
    _thread.critical = getattr(_thread, "critical", 0) + 1
    try:
        yield
    finally:
        _thread.critical -= 1
        _state["critical"] -= 1
        if not _state["critical"] and _state["pending"]:
            name, _state["pending"] = _state["pending"], None
            raise Interrupted(name)


@contextmanager
def cooperative():
    """While threads work (apply): a signal only marks the run cancelled; each worker stops at its next
    `check()` (between steps), cleaning up as an interrupt does, and the caller raises Interrupted once
    every worker is done."""
    _state["cooperative"] = True
    try:
        yield
    finally:
        _state["cooperative"] = False


def check():
    """Raise Interrupted if a signal asked this run to stop (see cooperative)."""
    if _state["cancelled"]:
        raise Interrupted(_state["cancelled"])


def cancelled():
    return _state["cancelled"]


def stops_here():
    """Whether this thread's work stops for a cancel now (not while it undoes something)."""
    return bool(_state["cancelled"]) and not getattr(_thread, "critical", 0)


def results(futures):
    """[future.result() ...], the main thread waking every STEP meanwhile: a signal the kernel gave
    to a worker thread runs its handler only when the main thread next runs Python, and a main
    thread blocked in future.result() would not until the workers are done."""
    from concurrent.futures import wait

    pending = set(futures)
    while pending:
        _done, pending = wait(pending, timeout=STEP)
    return [future.result() for future in futures]


def pause(seconds):
    """time.sleep(seconds) that a cancel ends at once (with Interrupted)."""
    deadline = time.monotonic() + seconds
    while True:
        check()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, STEP))


def record(done):
    """Note something this run changed for good ("wrote clients/alice", "deleted RoleBinding x")."""
    _journal.append(done)


def journal():
    return list(_journal)


def retract(path):
    """Forget what was recorded about `path` and what is in it (a rehearsal's folder, removed again)."""
    _journal[:] = [done for done in _journal if path not in done]


def forget():
    """A new run (tests run several in one process)."""
    _journal.clear()
    _state.update(critical=0, pending=None, cooperative=False, cancelled=None)


def exit_code(name):
    """128 + the signal's number, as a shell reports a process a signal stopped (130 for Ctrl-C)."""
    return 128 + int(getattr(signal, name, signal.SIGINT))
