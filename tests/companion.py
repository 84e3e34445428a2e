"""The suite on two cores: this pytest and a companion, a second pytest of the same selection, share
the run, a test module at a time.

Most of a run's time goes to child processes (kubectl, openssl) and waits on them, one at a time.
The companion takes test modules from the end of the run's list while this process takes them from
the start, until they meet; each module is claimed by one of them (a file made with O_EXCL in a
folder they share), so its fixtures and its order stay whole. The companion writes each test's
reports there as it goes (pytest's own serialisation, as pytest-xdist uses it), and this process
reports them when it reaches that module: the same tests, ids, outcomes, failures and exit status
as a run in one process. Tests marked `packaging` stay in this process (their slow set-up runs in
the background from their first test, see helpers.Background).

It starts only for a run of many modules, not for --collect-only, --pdb or --trace; `-p
no:companion` (or USERCERT_TEST_SERIAL=1) runs everything in this process. A companion that fails
or stops leaves the modules it never claimed to this process; those it claimed but did not finish
are reported failed, with the end of its output.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SHARED = "USERCERT_TEST_COMPANION"  # set in the companion: the folder it shares with this process
SERIAL = "USERCERT_TEST_SERIAL"
MIN_MODULES = 4  # fewer (a file or two, as when working on one thing): one process


def module_of(item):
    return item.nodeid.split("::", 1)[0]


def shareable(item):
    return item.get_closest_marker("packaging") is None


class _Folder:
    """What the two processes share: the modules the companion may take (in this process's order),
    one claim file per module taken, the companion's reports (JSON lines) and its output."""

    def __init__(self, path):
        self.path = Path(path)
        self.modules = self.path / "modules.json"
        self.reports = self.path / "reports.jsonl"
        self.log = self.path / "log"
        (self.path / "claims").mkdir(exist_ok=True)

    def claim(self, index, by):
        try:
            fd = os.open(
                self.path / "claims" / str(index), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
        except FileExistsError:
            return False
        os.write(fd, by.encode())
        os.close(fd)
        return True


class Main:
    """This process's side: starts the companion, runs the modules it claims, reports the others'."""

    def __init__(self, config):
        self.config = config
        self.folder = self.process = None
        self.index = {}  # module -> its place among the shareable modules
        self.ours = {}  # module -> True (run here) or False (the companion's)
        self.received = {}  # nodeid -> the companion's serialised reports
        self.finished = set()  # nodeids whose teardown report came
        self._read = 0

    def _wanted(self, session):
        option = self.config.option
        if (
            os.environ.get(SERIAL)
            or option.collectonly
            or option.usepdb
            or getattr(option, "trace", False)
        ):
            return False
        modules = {module_of(item) for item in session.items if shareable(item)}
        return len(modules) >= MIN_MODULES and (os.cpu_count() or 1) >= 2

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        if self._wanted(session):
            self._start(session)

    def _start(self, session):
        self.folder = _Folder(tempfile.mkdtemp(prefix="usercert-companion."))
        modules = list(dict.fromkeys(module_of(item) for item in session.items if shareable(item)))
        self.index = {module: number for number, module in enumerate(modules)}
        self.folder.modules.write_text(
            json.dumps(
                [
                    [item.nodeid for item in session.items if module_of(item) == module]
                    for module in modules
                ]
            )
        )
        args = [
            *self.config.invocation_params.args,
            "-o",
            f"cache_dir={self.folder.path / 'cache'}",
        ]
        if getattr(self.config.option, "xmlpath", None):  # its own report goes nowhere
            args += ["--junitxml", str(self.folder.path / "junit.xml")]
        if self.config.option.basetemp:  # (pytest empties a --basetemp folder when it starts)
            args += ["--basetemp", f"{self.config.option.basetemp}-companion"]
        with open(self.folder.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pytest", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.config.invocation_params.dir,
                env=dict(os.environ, **{SHARED: str(self.folder.path)}),
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.process is None or not shareable(item):
            return None
        module = module_of(item)
        if module not in self.ours:
            self.ours[module] = self.folder.claim(self.index[module], "main")
        if self.ours[module]:
            return None  # pytest's own protocol, here
        self._report(item)
        return True

    def _report(self, item):
        """The companion's reports of `item`, as if it had run here."""
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        while item.nodeid not in self.finished and self._receive():
            time.sleep(0.05)
        for data in self.received.pop(item.nodeid, []):
            report = self.config.hook.pytest_report_from_serializable(
                config=self.config, data=_tuples(data)
            )
            item.ihook.pytest_runtest_logreport(report=report)
        if item.nodeid not in self.finished:
            item.ihook.pytest_runtest_logreport(report=self._lost(item))
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)

    def _receive(self):
        """Takes in the companion's new reports; False once it has ended and they are all in."""
        running = self.process.poll() is None
        with open(self.folder.reports, "a+b") as reports:
            reports.seek(self._read)
            lines = reports.read().split(b"\n")
        for line in lines[:-1]:  # the last is empty, or a line still being written
            self._read += len(line) + 1
            data = json.loads(line)
            self.received.setdefault(data["nodeid"], []).append(data)
            if data["when"] == "teardown":
                self.finished.add(data["nodeid"])
        return running or len(lines) > 1

    def _lost(self, item):
        tail = self.folder.log.read_text(errors="replace")[-3000:]
        return pytest.TestReport(
            item.nodeid,
            item.location,
            {},
            "failed",
            when="call",
            longrepr=(
                f"the companion pytest (exit status {self.process.returncode}) took this test's module but ended "
                f"before it reported this test; the end of its output:\n{tail}"
            ),
        )

    def pytest_unconfigure(self):
        if self.process is not None:
            if (
                self.process.poll() is None
            ):  # this run was stopped (-x, Ctrl-C): so is the companion
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            shutil.rmtree(self.folder.path, ignore_errors=True)


def _tuples(data):
    """What JSON made lists of, tuples again as pytest has them (a skip's longrepr, locations, sections)."""
    for key in ("longrepr", "location"):
        if isinstance(data.get(key), list):
            data[key] = tuple(data[key])
    for key in ("sections", "user_properties"):
        data[key] = [tuple(pair) for pair in data.get(key) or ()]
    return data


class Companion:
    """The companion's side: the same selection, taken from the end, a module at a time."""

    def __init__(self, config, folder):
        self.config = config
        self.folder = _Folder(folder)
        self.index, self.ours = {}, {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        """Keeps the shareable modules of this process's selection, the last module first."""
        wanted = json.loads(self.folder.modules.read_text())
        by_id = {item.nodeid: item for item in items}
        if not all(nodeid in by_id for module in wanted for nodeid in module):
            wanted = []  # collected differently: take nothing, this process runs it all
        kept = [by_id[nodeid] for module in reversed(wanted) for nodeid in module]
        self.index = {module_of(by_id[module[0]]): number for number, module in enumerate(wanted)}
        kept_ids = {item.nodeid for item in kept}
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in kept_ids])
        items[:] = kept

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        module = module_of(item)
        if module not in self.ours:
            self.ours[module] = self.folder.claim(self.index[module], "companion")
        return None if self.ours[module] else True  # pytest's own protocol, or nothing at all

    def pytest_runtest_logreport(self, report):
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        with open(self.folder.reports, "ab") as reports:
            reports.write(json.dumps(data).encode() + b"\n")


def register(config):
    """The side of this process, if a run in two processes may be made of it (conftest calls this)."""
    folder = os.environ.pop(SHARED, None)  # (not for the pytest runs of its tests)
    config.pluginmanager.register(
        Companion(config, folder) if folder else Main(config), "companion"
    )
