"""setup.cfg's plumbum range, proven: its lowest version and the newest the range allows, each
installed by pip into a throwaway virtualenv, run a representative slice of the tests there: help
and every flag spelling (tests/test_flags.py), completion and its table, read from plumbum's
switches (tests/test_completion.py), create with a throwaway CA (tests/test_create.py), the process
runner (tests/test_process.py) and the house rules, start-up among them (tests/test_house.py).

The code uses plumbum's private API (all of it in cli/plumbum_adapter.py), so the range is what
these runs show, not a guess. Everything but plumbum (PyYAML, rich, pytest, cryptography) comes
from this virtualenv, found after the throwaway one's own packages by a .pth file.
"""

import configparser
import os
import re
import subprocess
import sys
import sysconfig

import pytest

from helpers import ROOT

pytestmark = pytest.mark.packaging

SLICE = [
    "tests/test_flags.py",
    "tests/test_completion.py",
    "tests/test_create.py",
    "tests/test_process.py",
    "tests/test_house.py",
    # the formatter's check is about the tree, not plumbum (and ruff's binary is not in that venv)
    "--deselect",
    "tests/test_house.py::test_the_tree_is_formatted_and_linted",
]


def plumbum_requirement():
    """(setup.cfg's plumbum requirement, its lowest version)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    [line] = [
        line.strip()
        for line in config["options"]["install_requires"].splitlines()
        if line.strip().startswith("plumbum")
    ]
    lowest = re.search(r">=\s*([\d.]+)", line)
    assert lowest and "<" in line, f"{line}: a range, with a lowest and a highest version"
    return line, lowest.group(1)


def environment():
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV"))
    }


def virtualenv_with(folder, requirement):
    """A virtualenv in `folder` with pip's pick for `requirement`; its python and plumbum's version."""
    base = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    subprocess.run([base, "-m", "venv", str(folder)], check=True, capture_output=True, timeout=300)
    python = folder / "bin" / "python"
    installed = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", requirement],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    own = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    with open(os.path.join(own, "zz-usercert-dev-packages.pth"), "w") as pth:
        pth.write("\n".join(ours) + "\n")
    found = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata, plumbum; "
            "print(importlib.metadata.version('plumbum')); print(plumbum.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=environment(),
    ).stdout.split("\n")
    assert found[1].startswith(str(folder)), found  # its own plumbum, not this virtualenv's
    return python, found[0]


@pytest.mark.parametrize("end", ["lowest", "newest"])
def test_the_cli_works_with_either_end_of_the_plumbum_range(end, tmp_path):
    requirement, lowest = plumbum_requirement()
    python, version = virtualenv_with(
        tmp_path / "venv", f"plumbum=={lowest}" if end == "lowest" else requirement
    )
    if end == "lowest":
        assert version == lowest, version
    result = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not packaging", *SLICE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment(),
        timeout=1200,
    )
    summary = (
        result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    )
    assert result.returncode == 0, f"plumbum {version}: {summary}\n{result.stdout[-4000:]}"
    assert " passed" in summary and "failed" not in summary, f"plumbum {version}: {summary}"
