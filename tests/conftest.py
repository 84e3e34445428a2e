"""Shared fixtures: an isolated HOME and working folder per test, throwaway CAs, the CLI as a process."""

import datetime
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pki  # noqa: E402

LAUNCHER = ROOT / "kubectl-usercert"


def _openssls():
    """Every openssl to test against: the one on PATH, and those named in USERCERT_TEST_OPENSSL
    (colon-separated paths; .ci/run adds the Mac's LibreSSL 3.3.6 when it is there)."""
    paths = [shutil.which("openssl")] + os.environ.get("USERCERT_TEST_OPENSSL", "").split(os.pathsep)
    found = {}
    for path in filter(None, paths):
        said = subprocess.run([path, "version"], capture_output=True, text=True).stdout
        match = re.match(r"(\w+) (\d+\.\d+\.\d+)", said)
        name = f"{match.group(1).lower()}-{match.group(2)}" if match else os.path.basename(path)
        found.setdefault(name, os.path.abspath(path))
    return found


OPENSSLS = _openssls()


@pytest.fixture(params=sorted(OPENSSLS))
def openssl_flavour(request, tmp_path, monkeypatch):
    """Runs the test once per openssl, that openssl first on PATH (as a Mac's /usr/bin/openssl is).
    Yields its name, e.g. 'openssl-3.0.19' or 'libressl-3.3.6'."""
    path = OPENSSLS[request.param]
    folder = os.path.dirname(path)  # its own folder: LibreSSL's wrapper finds its files from there
    if os.path.basename(path) != "openssl":
        folder = tmp_path / "openssl-bin"
        folder.mkdir()
        (folder / "openssl").symlink_to(path)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("USERCERT_OPENSSL", raising=False)
    return request.param


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test runs in its own folder with its own HOME and no KUBECONFIG or CA from outside."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("KUBECONFIG", "USERCERT_CA_CERT", "USERCERT_CA_KEY", "USERCERT_OPENSSL", "XDG_DATA_HOME",
                 "XDG_CACHE_HOME"):
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


class LiveCluster:
    """The test API server (tests/apiserver/) with split CAs, and the admin's kubeconfig as
    ~/.kube/config, so `kubectl usercert` finds the cluster the way it would on an admin's machine."""

    def __init__(self, server, server_ca, client_ca, admin_kubeconfig):
        self.server = server
        self.server_ca = server_ca
        self.client_ca = client_ca
        self.admin_kubeconfig = admin_kubeconfig

    @property
    def ca_args(self):
        return ["--ca-cert", str(self.client_ca.cert_path), "--ca-key", str(self.client_ca.key_path)]

    def kubectl(self, kubeconfig, *args, binary="kubectl", stdin=None):
        argv = [str(binary), "--kubeconfig", str(kubeconfig), "--request-timeout=20s", *map(str, args)]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)

    def admin(self, *args, stdin=None):
        return self.kubectl(self.admin_kubeconfig, *args, stdin=stdin)


@pytest.fixture
def live_cluster(tmp_path, isolated):
    from apiserver import APIServer

    pki_dir = tmp_path / "cluster-pki"
    server_ca = pki.make_ca(pki_dir, "server-ca")
    ten_years = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3650)
    client_ca = pki.make_ca(pki_dir, "client-ca", key_type="rsa", not_after=ten_years)
    serving_cert, serving_key = pki.make_server_cert(server_ca, pki_dir)
    admin_cert, admin_key = pki.make_client_cert(client_ca, pki_dir, "kubernetes-admin", ["system:masters"],
                                                 filename_stem="admin")
    with APIServer(serving_cert, serving_key, client_ca.cert_path) as server:
        admin_kubeconfig = pki.write_kubeconfig(Path(os.environ["HOME"]) / ".kube" / "config", server.url,
                                                server_ca.cert_path, admin_cert, admin_key, cluster="test-cluster",
                                                user="kubernetes-admin", context="admin@test-cluster")
        yield LiveCluster(server, server_ca, client_ca, admin_kubeconfig)
