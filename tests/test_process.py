"""The one process runner (process.py): what every openssl and kubectl child gets, and how it is
stopped: stdin closed unless given, os.environ as it is now, the current folder, a timeout, a
signal or apply's cancel."""

import os
import shutil
import signal
import threading
import time
from contextlib import nullcontext

import pytest

from kubectl_usercert import process, signals
from kubectl_usercert.errors import Interrupted

SH = shutil.which("sh")


def sh(script):
    return [SH, "-c", script]


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def child_pid(path, deadline=10):
    """The pid a child wrote into `path` (`echo $$ > path`), once it has."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if os.path.exists(path) and open(path).read().strip():
            return int(open(path).read())
        time.sleep(0.02)
    raise AssertionError("the child never started")


def test_a_run_gives_the_code_and_both_streams():
    done = process.run(sh("printf out; printf err >&2; exit 3"))
    assert (done.code, done.stdout, done.stderr, done.ok) == (3, b"out", b"err", False)
    assert (done.out, done.err) == ("out", "err")


def test_stdin_is_closed_unless_bytes_are_given():
    assert (
        process.run([shutil.which("cat")]).stdout == b""
    )  # EOF at once: nothing waits for a terminal
    assert (
        process.run([shutil.which("cat")], stdin=b"-----BEGIN PRIVATE KEY-----").stdout
        == b"-----BEGIN PRIVATE KEY-----"
    )


def test_the_environment_is_os_environ_as_it_is_now(monkeypatch):
    monkeypatch.setenv("USERCERT_TEST_SET_LATER", "now")
    monkeypatch.delenv("HOME")  # in plumbum's copy since its import: it must not come back
    monkeypatch.setenv("SSL_CERT_FILE", "/the/users/bundle")
    done = process.run(
        sh('echo "$USERCERT_TEST_SET_LATER ${HOME-unset} $SSL_CERT_FILE $PATH"'),
        env={"SSL_CERT_FILE": os.devnull},
    )
    assert done.out.split() == ["now", "unset", os.devnull, os.environ["PATH"]]


def test_the_child_works_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert process.run(sh("pwd -P")).out.strip() == str(tmp_path.resolve())
    assert process.run(sh("pwd -P"), cwd="/").out.strip() == "/"


def test_a_timeout_stops_the_child(tmp_path):
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(process.TimedOut):
        process.run(sh(f"echo $$ > {pidfile}; exec sleep 30"), timeout=0.5)
    assert time.monotonic() - started < 5
    assert gone(child_pid(pidfile))


def test_leaving_start_without_waiting_stops_the_child(tmp_path):
    pidfile = tmp_path / "pid"
    with process.start(sh(f"echo $$ > {pidfile}; exec sleep 30")):
        pid = child_pid(pidfile)
    assert gone(pid)


@pytest.mark.parametrize("cooperative", [False, True], ids=["signal", "apply's cancel"])
def test_a_signal_stops_the_child_at_once(tmp_path, cooperative):
    pidfile = tmp_path / "pid"

    def signal_when_started():
        child_pid(pidfile)
        os.kill(os.getpid(), signal.SIGTERM)

    signals.forget()
    sender = threading.Thread(target=signal_when_started)
    started = time.monotonic()
    try:
        with signals.handled():
            with pytest.raises(Interrupted) as raised:
                with signals.cooperative() if cooperative else nullcontext():
                    sender.start()
                    process.run(sh(f"echo $$ > {pidfile}; exec sleep 30"))
    finally:
        sender.join()
        signals.forget()
    assert raised.value.signal_name == "SIGTERM"
    assert time.monotonic() - started < 5
    assert gone(child_pid(pidfile))
