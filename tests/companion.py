"""The suite on two cores: this pytest and a companion, a second pytest of the same selection, share
the run, a test module at a time.

Most of a run's time goes to child processes (kubectl, openssl) and waits on them, one at a time.
The run is cut into units: a test module (its fixtures and its order stay whole), or a test alone
where a `cost(seconds)` marker says it is long (a kill sweep). The units are laid out longest at
both ends, shortest in the middle; this process takes them from the start while the companion
takes them from the end, until they meet over short ones, so neither waits long for the other at
the end. Each unit is claimed by one of them (a file made with O_EXCL in a folder they share). The
companion writes each test's reports there as it goes (pytest's own serialisation, as
pytest-xdist uses it), and this process reports them when it reaches that unit: the same tests,
ids, outcomes, failures and exit status as a run in one process, in another order. Tests marked
`packaging` stay in this process and go first (their slow set-up runs in the background from their
first test, see helpers.Background).

It starts only for a run of many modules, not for --collect-only, --pdb or --trace; `-p
no:companion` (or USERCERT_TEST_SERIAL=1) runs everything in this process. A companion that fails
or stops leaves the units it never claimed to this process; those it claimed but did not finish
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


CLUSTER_FIXTURES = {"live_cluster", "fleet", "make_fleet", "machines"}


def module_of(item):
    return item.nodeid.split("::", 1)[0]


def shareable(item):
    return item.get_closest_marker("packaging") is None


def cost(item):
    """About how long a test takes here (seconds): its `cost` marker, or a guess from whether it
    runs a test cluster. Only the order of a shared run depends on it."""
    marker = item.get_closest_marker("cost")
    if marker is not None:
        return marker.args[0]
    return 0.6 if CLUSTER_FIXTURES & set(item.fixturenames) else 0.15


def units_of(items):
    """The shareable items in units (a test with a cost marker alone, the rest a module each), laid
    out for two takers, one from each end: the longest at the ends, the shortest in the middle."""
    units = {}
    for item in filter(shareable, items):
        key = item.nodeid if item.get_closest_marker("cost") else module_of(item)
        units.setdefault(key, []).append(item)
    longest = sorted(units.values(), key=lambda unit: -sum(map(cost, unit)))
    return longest[0::2] + longest[1::2][::-1]


class _Folder:
    """What the two processes share: the units the companion may take (in this process's order, each
    a list of node ids), one claim file per unit taken, the companion's reports (JSON lines) and its
    output."""

    def __init__(self, path):
        self.path = Path(path)
        self.units = self.path / "units.json"
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
    """This process's side: starts the companion, runs the units it claims, reports the others'."""

    def __init__(self, config):
        self.config = config
        self.folder = self.process = None
        self.units = []  # the shareable items in units, in this process's order
        self.index = {}  # nodeid -> its unit's place among them
        self.ours = {}  # unit's place -> True (run here) or False (the companion's)
        self.received = {}  # nodeid -> the companion's serialised reports
        self.finished = set()  # nodeids whose teardown report came
        self._read = 0

    def _wanted(self, items):
        option = self.config.option
        if (
            os.environ.get(SERIAL)
            or option.collectonly
            or option.usepdb
            or getattr(option, "trace", False)
        ):
            return False
        modules = {module_of(item) for item in items if shareable(item)}
        return len(modules) >= MIN_MODULES and (os.cpu_count() or 1) >= 2

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        """For a shared run, once every plugin has chosen and ordered the items (-k, -m, --lf,
        --ff): the packaging tests first, then the units as units_of lays them out (the order --ff
        or --nf chose gives way to it); pytest's own loop then runs session.items in that order."""
        if self._wanted(session.items):
            self.units = units_of(session.items)
            session.items[:] = [item for item in session.items if not shareable(item)] + [
                item for unit in self.units for item in unit
            ]
            self._start(session)

    def _start(self, session):
        self.folder = _Folder(tempfile.mkdtemp(prefix="usercert-companion."))
        self.index = {
            item.nodeid: number for number, unit in enumerate(self.units) for item in unit
        }
        self.folder.units.write_text(
            json.dumps([[item.nodeid for item in unit] for unit in self.units])
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
        unit = self.index[item.nodeid]
        if unit not in self.ours:
            self.ours[unit] = self.folder.claim(unit, "main")
        if self.ours[unit]:
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
                f"the companion pytest (exit status {self.process.returncode}) took this test's unit but ended "
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
    """The companion's side: the same selection, taken from the end, a unit at a time."""

    def __init__(self, config, folder):
        self.config = config
        self.folder = _Folder(folder)
        self.index, self.ours = {}, {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        """Keeps the shared units of this process's selection, the last unit first."""
        wanted = json.loads(self.folder.units.read_text())
        by_id = {item.nodeid: item for item in items}
        if not all(nodeid in by_id for unit in wanted for nodeid in unit):
            wanted = []  # collected differently: take nothing, this process runs it all
        kept = [by_id[nodeid] for unit in reversed(wanted) for nodeid in unit]
        self.index = {nodeid: number for number, unit in enumerate(wanted) for nodeid in unit}
        kept_ids = {item.nodeid for item in kept}
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in kept_ids])
        items[:] = kept

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        unit = self.index[item.nodeid]
        if unit not in self.ours:
            self.ours[unit] = self.folder.claim(unit, "companion")
        return None if self.ours[unit] else True  # pytest's own protocol, or nothing at all

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
