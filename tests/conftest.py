"""Shared fixtures: an isolated HOME and working folder per test, throwaway CAs, the CLI as a process."""

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pki  # noqa: E402

LAUNCHER = ROOT / "kubectl-usercert"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test runs in its own folder with its own HOME and no KUBECONFIG or CA from outside."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("KUBECONFIG", "USERCERT_CA_CERT", "USERCERT_CA_KEY", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def signing_ca(tmp_path):
    ten_years = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3650)
    return pki.make_ca(tmp_path / "pki", "client-ca", key_type="rsa", not_after=ten_years)


@pytest.fixture
def server_ca(tmp_path):
    return pki.make_ca(tmp_path / "pki", "server-ca")


def run_cli(*args, env=None, cwd=None):
    """Run the launcher as a user would, as a separate process; return the CompletedProcess."""
    return subprocess.run([sys.executable, str(LAUNCHER), *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, stdin=subprocess.DEVNULL, timeout=120)


def tree(path):
    """Every path below `path` (relative), for 'nothing was left behind' checks."""
    path = Path(path)
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []
