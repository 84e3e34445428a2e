"""Interrupts, and what the run has done so far.

SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, systemd, CI runners) and SIGHUP (a closed terminal)
all raise `Interrupted` where the run is, so every cleanup on the way out runs alike: staging
folders go, a pending CertificateSigningRequest is withdrawn, a running openssl or kubectl is
stopped. Steps that must happen together (a user's folder moved into place and its ledger line)
run in a `critical()` section: a signal that arrives there waits until they are done.

The journal lists what the run changed for good (a folder written, a binding deleted), so the
message after an interrupt says exactly that, and "nothing was written" only when it is true.
"""

import signal
import threading
from contextlib import contextmanager

from .errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_state = {"critical": 0, "pending": None, "cooperative": False, "cancelled": None}
_journal = []


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
    try:
        yield
    finally:
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


def record(done):
    """Note something this run changed for good ("wrote clients/alice", "deleted RoleBinding x")."""
    _journal.append(done)


def journal():
    return list(_journal)


def forget():
    """A new run (tests run several in one process)."""
    _journal.clear()
    _state.update(critical=0, pending=None, cooperative=False, cancelled=None)


def exit_code(name):
    """128 + the signal's number, as a shell reports a process a signal stopped (130 for Ctrl-C)."""
    return 128 + int(getattr(signal, name, signal.SIGINT))
