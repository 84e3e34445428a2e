"""Shared fixtures: an isolated HOME and working folder per test, throwaway CAs, every openssl, and the
one live-cluster harness (the test API server of tests/apiserver/, with kubectl wired to it), alone
(live_cluster) or several at once (fleet, make_fleet).

Helpers (the CLI in this process or as a process, reading what it wrote) are in helpers.py; a long run
is shared with a second pytest (companion.py, registered here).
"""

import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _throwaway_files_in_memory(shm="/dev/shm"):
    """Every test writes, fsyncs and removes dozens of files (pytest's tmp_path, the tool's scratch
    files); on this machine's disk that was a sixth of a run. Where TMPDIR is unset and the system
    has a tmpfs at /dev/shm that allows running programs and has 2 GiB free, they go there (for this
    run and every process it starts; setup.cfg has pytest keep only the last run's folders, not three
    runs', so at most one run's files stay in memory between runs). What the tests check does not depend on the filesystem."""
    if os.environ.get("TMPDIR") or not os.path.isdir(shm) or not os.access(shm, os.W_OK | os.X_OK):
        return
    room = os.statvfs(shm)
    if room.f_flag & os.ST_NOEXEC or room.f_bavail * room.f_frsize < 2 << 30:
        return  # (a run writes up to half a GiB there, the packaging tests most of it)
    os.environ["TMPDIR"] = shm
    tempfile.tempdir = None  # (tempfile reads TMPDIR again)


_throwaway_files_in_memory()

import apiserver.handler  # noqa: E402
import companion  # noqa: E402
import pki  # noqa: E402
from helpers import (  # noqa: E402
    FLEET,
    running_test_cluster,
    running_test_clusters,
    start_launcher,
)

# Two adjustments to the test API server's handler (their place is tests/apiserver/handler.py's
# _Handler). It writes an answer's headers and its body in two sends: with Nagle's algorithm on, the
# body waited for kubectl's delayed ACK, 40 ms or more on every request; kube-apiserver has it off
# (Go sets TCP_NODELAY on every connection), and so does the test server. And a request is in its
# log before the answer goes out, so a test that reads the log once kubectl is done finds it there.
apiserver.handler._Handler.disable_nagle_algorithm = True


def _logged_then_answered(handler):
    if getattr(handler, "record", None) is not None:  # (none for a request too malformed to read)
        handler.log_answered()
    BaseHTTPRequestHandler.end_headers(handler)


apiserver.handler._Handler.end_headers = _logged_then_answered


def _openssls():
    """Every openssl to test against: the one on PATH, and those named in USERCERT_TEST_OPENSSL
    (colon-separated paths; .ci/run adds the Mac's LibreSSL 3.3.6 when it is there)."""
    paths = [shutil.which("openssl")] + os.environ.get("USERCERT_TEST_OPENSSL", "").split(
        os.pathsep
    )
    found = {}
    for path in filter(None, paths):
        said = subprocess.run([path, "version"], capture_output=True, text=True).stdout
        match = re.match(r"(\w+) (\d+\.\d+\.\d+)", said)
        name = f"{match.group(1).lower()}-{match.group(2)}" if match else os.path.basename(path)
        found.setdefault(name, os.path.abspath(path))
    return found


OPENSSLS = _openssls()


def pytest_configure(config):
    companion.register(config)  # a second pytest shares a long run (see companion.py)


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
    """Every test runs in its own folder with its own HOME and no KUBECONFIG or CA from outside (and
    RSA keys of its own: pki._RSAKeys)."""
    pki.RSA_KEYS.next_test()
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    # PYTHONDONTWRITEBYTECODE would make every CLI child compile the package again (as an installed
    # copy never does): children keep bytecode in lib/__pycache__.
    for name in (
        "KUBECONFIG",
        "USERCERT_CA_CERT",
        "USERCERT_CA_KEY",
        "USERCERT_OPENSSL",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "PYTHONDONTWRITEBYTECODE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    # A run of kubectl spends half its CPU collecting garbage while it starts; the suite starts
    # thousands. Off until a kubectl holds half a GiB (a long watch): what kubectl does is the same.
    monkeypatch.setenv("GOGC", "off")
    monkeypatch.setenv("GOMEMLIMIT", "512MiB")
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def signing_ca(tmp_path):
    ten_years = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3650)
    return pki.make_ca(tmp_path / "pki", "client-ca", key_type="rsa", not_after=ten_years)


@pytest.fixture
def server_ca(tmp_path):
    return pki.make_ca(tmp_path / "pki", "server-ca")


SDK_BIN = Path("/usr/lib/google-cloud-sdk/bin")


def default_kubectl():
    return shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl") or "kubectl"


class LiveCluster:
    """The test API server with split CAs (as k3s has them), the admin's kubeconfig as ~/.kube/config
    (so `kubectl usercert` finds the cluster the way it would on an admin's machine), and kubectl
    wired to it."""

    def __init__(self, server, server_ca, client_ca, admin_kubeconfig, root, context=None):
        self.server = server
        self.server_ca = server_ca
        self.client_ca = client_ca
        self.admin_kubeconfig = admin_kubeconfig
        self.root = root
        self.context = context  # its context in a fleet's merged kubeconfig
        self._serial = 0

    @property
    def ca_args(self):
        return [
            "--ca-cert",
            str(self.client_ca.cert_path),
            "--ca-key",
            str(self.client_ca.key_path),
        ]

    def credentials(self, cn, orgs=(), *, ca=None, **cert_options):
        """A kubeconfig (trusting the server CA) for a fresh client certificate made with cryptography."""
        self._serial += 1
        stem = f"user-{self._serial}"
        cert, key = pki.make_client_cert(
            ca or self.client_ca, self.root / "certs", cn, orgs, filename_stem=stem, **cert_options
        )
        return pki.write_kubeconfig(
            self.root / f"{stem}.kubeconfig", self.server.url, self.server_ca.cert_path, cert, key
        )

    def kubectl(self, kubeconfig, *args, binary=None, stdin=None):
        argv = [
            str(binary or default_kubectl()),
            "--kubeconfig",
            str(kubeconfig),
            "--request-timeout=20s",
            *map(str, args),
        ]
        env = {k: v for k, v in os.environ.items() if k != "KUBECTL_EXTERNAL_DIFF"}
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=60, env=env
        )

    def admin(self, *args, stdin=None):
        return self.kubectl(self.admin_kubeconfig, *args, stdin=stdin)


@pytest.fixture
def live_cluster(tmp_path, isolated):
    root = tmp_path / "cluster-users"
    root.mkdir()
    admin_kubeconfig = Path(os.environ["HOME"]) / ".kube" / "config"
    with running_test_cluster(tmp_path / "cluster-pki", admin_kubeconfig) as (
        server,
        server_ca,
        client_ca,
    ):
        yield LiveCluster(server, server_ca, client_ca, admin_kubeconfig, root)


class Fleet:
    """Several test API servers at once, each a LiveCluster with CAs of its own (helpers.FLEET: prod split
    like k3s, staging and lab with one CA like kubeadm), all signing approved CSRs by default.
    `kubeconfig` is the admin's one kubeconfig with a context per cluster (also ~/.kube/config, the
    first context current); each cluster's `admin_kubeconfig` is a file of its own, whose cluster and
    user names may collide with another's: kubeconfig_path("staging", "lab") is KUBECONFIG=a:b for them."""

    def __init__(self, clusters, kubeconfig):
        self.clusters = clusters  # {context: LiveCluster}, in order
        self.kubeconfig = kubeconfig

    def __getitem__(self, context):
        return self.clusters[context]

    def __iter__(self):
        return iter(self.clusters.values())

    @property
    def contexts(self):
        return list(self.clusters)

    def kubeconfig_path(self, *contexts):
        """KUBECONFIG's value listing the named clusters' own admin kubeconfigs (default: all), in order."""
        return os.pathsep.join(
            str(self.clusters[c].admin_kubeconfig) for c in contexts or self.clusters
        )


@pytest.fixture
def make_fleet(tmp_path, isolated):
    """make_fleet(*specs): a Fleet of helpers.ClusterSpec clusters (default helpers.FLEET); one per test
    (it writes ~/.kube/config, as live_cluster does: use one or the other)."""
    with ExitStack() as stack:

        def make(*specs):
            merged = Path(os.environ["HOME"]) / ".kube" / "config"
            running = stack.enter_context(
                running_test_clusters(tmp_path / "fleet", specs or FLEET, merged)
            )
            clusters = {}
            for spec, server, server_ca, client_ca, own in running:
                root = tmp_path / "fleet-users" / spec.context
                root.mkdir(parents=True)
                clusters[spec.context] = LiveCluster(
                    server, server_ca, client_ca, own, root, context=spec.context
                )
            return Fleet(clusters, merged)

        yield make


@pytest.fixture
def fleet(make_fleet):
    """Three clusters (helpers.FLEET): prod, staging, lab."""
    return make_fleet()


@pytest.fixture
def start():
    """start(*args): the tool as a background process (stdin closed), for tests where someone else acts
    meanwhile; one a failed test leaves running is killed afterwards."""
    processes = []

    def start_tool(*args, argv=None):
        processes.append(start_launcher(*args, argv=argv))
        return processes[-1]

    yield start_tool
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate()
