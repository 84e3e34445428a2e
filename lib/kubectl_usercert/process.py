"""The one process runner: every child this tool starts (openssl, kubectl) starts here, through
plumbum's local commands, the same way:

- argv is a list, never a shell string (no secret ever goes into it: it shows in `ps`);
- stdin is closed, unless bytes are given, and those go through a pipe (plumbum's `<<` would park
  them in a temporary file, and they may be a private key);
- the environment is os.environ as it is now, plus `env`, given to the child whole. plumbum's own
  copy (`local.env`) is taken when plumbum is imported, and versions differ in what they do with
  it: 1.6 replaces it with an `env` given to popen, 1.7 and later merge the two, and `with_env`'s
  variables lose to that `env` (or, in 1.6, are dropped), while plumbum writes PATH back from its
  own parsed copy. So `local.env` is brought up to date before each start (a variable removed
  since import must not come back) and the environment is given whole, without `with_env`;
- the working folder is the current one (not plumbum's idea of it);
- the wait happens in steps of signals.STEP, so a signal, or apply's cancel (see signals), stops
  the child at once; so does a timeout, or leaving `start`'s with-block without waiting.

The one exception is cli/completion.py, which asks kubectl for context and cluster names at a
keystroke with subprocess itself: importing plumbum would cost more than the answer.
"""

import functools
import os
import select
import subprocess
import threading
import time
from dataclasses import dataclass

from plumbum import local

from . import signals
from .errors import Interrupted

_ENVIRONMENT = threading.Lock()  # plumbum's local.env is one for the whole process


class TimedOut(Exception):
    """The child did not finish within its timeout, and was stopped."""


@dataclass(frozen=True, eq=False, repr=False)  # (no repr: the output may hold a key)
class Result:
    code: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self):
        return self.code == 0

    @property
    def out(self):
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self):
        return self.stderr.decode("utf-8", "replace")


def run(argv, *, stdin=None, timeout=None, env=None, cwd=None):
    """Run argv[0] (a path) with argv[1:]; its Result, whatever its exit code. `stdin`: bytes for its
    stdin (else it is closed); `timeout`: seconds, then TimedOut; `env`: variables set on top of
    os.environ; `cwd`: its working folder (default: the current one)."""
    with start(argv, stdin=stdin, env=env, cwd=cwd) as child:
        return child.wait(timeout)


def start(argv, *, stdin=None, env=None, cwd=None):
    """Start argv (as `run` does) and return at once: a Running, to `wait` for, or to `stop`."""
    command = _local(argv[0])[list(argv[1:])]
    with _ENVIRONMENT:
        _bring_up_to_date(local.env)
        process = command.popen(
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd or os.getcwd(),
            env={**os.environ, **(env or {})},
        )
    return Running(process, stdin)


class Running:
    """A child started by `start`. Leaving the with-block stops it unless it was waited for."""

    def __init__(self, process, stdin=None):
        self._process, self._stdin, self._done = process, stdin, False

    def wait(self, timeout=None):
        """Its Result once it exits; TimedOut after `timeout` seconds, Interrupted on a signal or apply's
        cancel (either way the child is stopped first)."""
        try:
            out, err = _communicate(self._process, self._stdin, timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TimedOut(timeout) from None
        except (
            BaseException
        ):  # interrupted: stop the child too, so it writes nothing after the cleanup
            self.stop()
            raise
        self._done = True
        return Result(self._process.returncode, out, err)

    def chunks(self, idle):
        """What the child writes on stdout, as it comes (bytes); None after `idle` seconds with
        nothing new, so the caller can act between two answers of a stream (a watch). Ends when
        the child closes its stdout. A signal raises Interrupted here, as in `wait`."""
        fd = self._process.stdout.fileno()
        while True:
            ready, _, _ = select.select([fd], [], [], idle)
            if signals.stops_here():
                raise Interrupted(signals.cancelled())
            if not ready:
                yield None
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                return
            yield data

    def finish(self, timeout=None):
        """Its Result once it exits (stderr whole, what `chunks` did not take of stdout)."""
        return self.wait(timeout)

    def stop(self):
        """Kill the child if it still runs, and reap it."""
        if self._done:
            return
        self._done = True
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()  # (not communicate: a grandchild holding the pipes would keep it waiting)
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.stop()


def _communicate(process, stdin, timeout):
    """process.communicate(stdin, timeout) in steps of signals.STEP, looking at apply's cancel mark in
    between (outside apply a signal raises Interrupted in the main thread by itself)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = (
            signals.STEP
            if deadline is None
            else max(0.0, min(signals.STEP, deadline - time.monotonic()))
        )
        try:
            return process.communicate(stdin, timeout=step)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                raise
        stdin = None  # sent once; a second communicate() takes no input (the rest is still written)
        if signals.stops_here():
            raise Interrupted(signals.cancelled())


@functools.lru_cache(maxsize=None)
def _local(path):
    return local[path]


def _bring_up_to_date(plumbum_env):
    """plumbum's environment made os.environ as it is now."""
    now = dict(os.environ)
    for name in [name for name in plumbum_env.keys() if name not in now]:
        del plumbum_env[name]
    plumbum_env.update(now)
