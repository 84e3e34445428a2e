"""Helpers every test module shares: the CLI in this process (run_cli) or as a process where the
process boundary is what is tested (run_launcher), reading what it wrote."""

import atexit
import datetime
import functools
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "kubectl-usercert"
SERVER = "https://127.0.0.1:6443"  # a server nobody needs to reach (no --verify, no RBAC)
EC = ["--key-type", "ecdsa"]  # quick keys where the key type does not matter


def readme_two_sides(heading):
    """The `bob$ ...` and `admin$ ...` lines of the README's console block under `heading`, as
    (who, command), comments dropped."""
    section = (ROOT / "README.md").read_text().split(heading)[1]
    block = section.split("```console\n")[1].split("```")[0]
    return [
        (who, re.sub(r"\s+# .*$", "", command))
        for who, command in re.findall(r"^(bob|admin)\$ (.*)$", block, re.M)
        if not command.startswith("#")
    ]


def ca_args(ca):
    return ["--ca-cert", str(ca.cert_path), "--ca-key", str(ca.key_path)]


def run_cli(*args, env=None, cwd=None, stdin=None, timeout=120):
    """The CLI in this process, as `kubectl-usercert ARGS` runs in a shell: the one way tests run it
    (a CompletedProcess). It gets its own environment (`env`: the whole of it, as subprocess takes
    it; None: this process's as it is now, with what monkeypatch set), working folder (`cwd`), stdin
    (text or bytes; none: empty, as /dev/null) and captured stdout and stderr, encoded as a child's
    would be. Nothing of one run reaches the next: os.environ, the working folder and the standard
    streams are put back, and the package starts afresh (start_afresh), as a new process does. A
    run longer than `timeout` seconds is stopped (SIGALRM) with TimeoutExpired, as subprocess.run
    stops a child. What only a process boundary shows (signals, the launcher's exit codes, closed or
    piped streams, PATH and Python look-ups, kubectl running the plugin, runs side by side) is for
    run_launcher."""
    from kubectl_usercert import cli

    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "run_cli runs the CLI in this process (its working folder, environment and "
            "signals are the process's): from a thread, use run_launcher"
        )
    argv = ["kubectl-usercert", *map(str, args)]
    start_afresh()
    saved_environ, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
    streams = [
        _stream_like(original, io.BytesIO(content))
        for original, content in (
            (sys.__stdin__, data),
            (sys.__stdout__, b""),
            (sys.__stderr__, b""),
        )
    ]
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        code = _run_within(timeout, lambda: cli.main(argv), argv)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        out, err = (stream.detach().getvalue().decode() for stream in streams[1:])
        os.chdir(saved_cwd)
        if os.environ != saved_environ:
            os.environ.clear()
            os.environ.update(saved_environ)
    return subprocess.CompletedProcess(argv, code, out, err)


class _Overran(BaseException):
    """Raised in a run that outlasts its timeout (a BaseException: past the CLI's error funnel)."""


def _overran(_signum, _frame):
    raise _Overran()


def _run_within(timeout, main, argv):
    """main()'s exit status, as a process's would be; TimeoutExpired after `timeout` seconds."""
    previous = signal.signal(signal.SIGALRM, _overran)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        main()
        return 0
    except SystemExit as exited:
        return _exit_status(exited.code)
    except _Overran:
        raise subprocess.TimeoutExpired(argv, timeout) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _stream_like(original, buffer):
    """A text stream over `buffer` that encodes as this process's own standard stream does (as a
    child's would: UTF-8, with the errors handler the locale gives)."""
    errors = getattr(original, "errors", None) or "strict"
    return io.TextIOWrapper(buffer, encoding="utf-8", errors=errors, write_through=True)


def _exit_status(code):
    """The exit status a process would have for sys.exit(code)."""
    if code is None or isinstance(code, int):
        return code or 0
    sys.stderr.write(f"{code}\n")
    return 1


def start_afresh():
    """The package as a new process has it: every functools cache empty, not quiet (the run's switches
    say; signals.forget is app.run's own first step)."""
    for name, module in list(sys.modules.items()):
        if name == "kubectl_usercert" or name.startswith("kubectl_usercert."):
            if name not in _RESETS:
                _RESETS[name] = _resets_of(module)
            for reset in _RESETS[name]:
                reset()


_RESETS = {}  # module name -> what start_afresh calls in it (looked for once per module)


def _resets_of(module):
    found = []
    for value in vars(module).values():
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if callable(getattr(value, "cache_clear", None)):
            found.append(value.cache_clear)
        elif getattr(value, "__name__", None) == "set_quiet":
            found.append(functools.partial(value, False))
    return found


def run_launcher(*args, env=None, cwd=None, stdin=subprocess.DEVNULL, timeout=120):
    """The launcher as a user runs it, a separate process (for what only a process boundary shows, see
    run_cli); the CompletedProcess."""
    return subprocess.run(
        [sys.executable, str(LAUNCHER), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=stdin,
        timeout=timeout,
    )


def start_launcher(*args, env=None, cwd=None, argv=None):
    """The launcher started as run_launcher runs it, in the background (stdin closed, stdout and
    stderr piped, as text); `argv`: another way to start the tool. The Popen."""
    return subprocess.Popen(
        [*(argv or [sys.executable, str(LAUNCHER)]), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=cwd,
    )


def run_here(capsys, *args):
    """run_cli, for the modules that name it so (capsys is no longer needed)."""
    return run_cli(*args)


def cli_json(*args, **kwargs):
    """The -o json answer of a run (run_cli) that succeeded."""
    result = run_cli(*args, "-o", "json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def json_here(capsys, *args):
    """cli_json, for the modules that name it so."""
    return cli_json(*args)


def tree(path):
    """Every path below `path` (relative), for 'nothing was left behind' checks."""
    path = Path(path)
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def load_cert(path):
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def user_cert(user, out="clients"):
    return load_cert(Path(out) / user / f"{user}.crt")


def ledger_lines(out="clients"):
    path = Path(out) / ".usercert" / "ledger.jsonl"
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if path.exists()
        else []
    )


def whoami(cluster, kubeconfig, binary="kubectl", extra=False):
    """What the test API server says the kubeconfig's user is (through real kubectl): username and groups;
    with extra=True also the user's extra (authentication.kubernetes.io/credential-id, the certificate's
    X509SHA256=... on a server that sets credential ids, as kube-apiserver 1.32+ does)."""
    result = cluster.kubectl(kubeconfig, "auth", "whoami", "-o", "json", binary=binary)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)["status"]["userInfo"]
    if not extra:
        info.pop("extra", None)
    return info


def python_on_path(folder, executable=sys.executable):
    """A folder holding only `python3` that runs `executable` (what `#!/usr/bin/env python3` finds)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{executable}" "$@"\n')
    wrapper.chmod(0o755)
    return folder


def path_with(*folders):
    return os.pathsep.join([*map(str, folders), os.environ["PATH"]])


class Background:
    """Slow set-up that only reads the checkout (a release build, a pip download): a command that
    runs in the background while tests run (one at a time, they leave a core idle), whose outcome
    a fixture collects with wait(). Declaring one (when a test module is imported) starts nothing:
    the first packaging test of a run starts those that its selected tests need (the
    `background_work` fixture), and wait() starts one if nothing did. So a run that selects none
    of them (-m "not packaging", -k, --collect-only) starts none. Each runs in a temporary folder
    of its own, its output in `log` there; when pytest exits it is stopped, with its children,
    and the folder removed."""

    declared = []

    def __init__(self, name, command, needed_by):
        """command(folder) -> the argv to run in `folder` (it may prepare the folder first);
        needed_by: the name of the fixture that waits for it."""
        self.name, self._command, self.needed_by = name, command, needed_by
        self.folder = None
        self._process = None
        Background.declared.append(self)

    def start(self):
        if self._process is not None:
            return
        self.folder = Path(tempfile.mkdtemp(prefix=f"usercert-{self.name}."))
        atexit.register(
            shutil.rmtree, self.folder, ignore_errors=True
        )  # runs after stop(): last in, first out
        argv = [str(part) for part in self._command(self.folder)]
        with open(self.folder / "log", "wb") as handle:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.folder,
            )
        atexit.register(self.stop)

    def wait(self, timeout=600):
        """The CompletedProcess (stdout holds stdout and stderr), once the command is done."""
        self.start()
        code = self._process.wait(timeout=timeout)
        return subprocess.CompletedProcess(
            self._process.args, code, (self.folder / "log").read_text(errors="replace"), ""
        )

    def stop(self):
        if self._process is not None and self._process.poll() is None:
            os.killpg(
                self._process.pid, signal.SIGKILL
            )  # its own session: the command and its children
            self._process.wait()


@pytest.fixture(scope="session", autouse=True)
def background_work(request):
    """Starts every declared Background that a test of this run needs (it uses the fixture that
    waits for it), at the first test of a module that imports this fixture: the packaging tests."""
    selected = selected_and_not_skipped(request)
    for work in Background.declared:
        if any(work.needed_by in item.fixturenames for item in selected):
            work.start()


class Scenarios:
    """Slow test bodies run ahead, side by side, each in a thread of its own: scenarios that spend
    their time in child processes, with folders and an environment of their own (nothing of this
    process's: no cwd, os.environ or monkeypatch), so that they overlap each other and the tests
    that run meanwhile. A scenario is a function; its test calls outcome(scenario), which waits for
    it (starting it then if nothing did) and re-raises what it raised: a failed assert, a skip."""

    def __init__(self, workers, tmp_path_factory):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scenario")
        self._tmp_path_factory = tmp_path_factory
        self._started = {}
        self._arguments = {}

    def add(self, scenario, *arguments):
        """Makes `scenario` known, to be called as scenario(its own tmp folder, *arguments)."""
        self._arguments[scenario] = arguments

    def start(self, scenario):
        folder = self._tmp_path_factory.mktemp(scenario.__name__[:30])
        self._started[scenario] = self._pool.submit(scenario, folder, *self._arguments[scenario])

    def outcome(self, scenario):
        if scenario not in self._started:
            self.start(scenario)
        return self._started[scenario].result()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self._pool.shutdown(wait=True)


def selected_and_not_skipped(request):
    """The tests this run will run: those selected, less those a skipif mark skips."""
    return [
        item
        for item in request.session.items
        if not any(mark.args and mark.args[0] for mark in item.iter_markers("skipif"))
    ]


def runs_in_this_session(request, test_name):
    """Whether this run will run the test named `test_name`."""
    return any(item.name == test_name for item in selected_and_not_skipped(request))


@contextmanager
def running_test_cluster(
    pki_dir,
    admin_kubeconfig,
    *,
    split_ca=True,
    ca_names=("server-ca", "client-ca"),
    cluster="test-cluster",
    user="kubernetes-admin",
    context="admin@test-cluster",
    **server_options,
):
    """The test API server as a cluster, and a system:masters admin kubeconfig written to `admin_kubeconfig`
    (its cluster, user and context named as given). split_ca: a server CA and a ten-year RSA client CA, as
    k3s/rke2 have them; else one ten-year RSA CA that signs the serving certificate and the clients, as
    kubeadm has it (ca_names[1] names it). server_options go to APIServer (credential_ids,
    csr_signing_key, cluster_signing_duration, ...). Yields (server, server_ca, client_ca); without
    split_ca server_ca is client_ca."""
    import pki
    from apiserver import APIServer

    ten_years = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3650)
    client_ca = pki.make_ca(pki_dir, ca_names[1], key_type="rsa", not_after=ten_years)
    server_ca = pki.make_ca(pki_dir, ca_names[0]) if split_ca else client_ca
    serving_cert, serving_key = pki.make_server_cert(server_ca, pki_dir)
    admin_cert, admin_key = pki.make_client_cert(
        client_ca, pki_dir, "kubernetes-admin", ["system:masters"], filename_stem="admin"
    )
    with APIServer(serving_cert, serving_key, client_ca.cert_path, **server_options) as server:
        pki.write_kubeconfig(
            admin_kubeconfig,
            server.url,
            server_ca.cert_path,
            admin_cert,
            admin_key,
            cluster=cluster,
            user=user,
            context=context,
        )
        yield server, server_ca, client_ca


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster of a fleet. `context` names it in the merged kubeconfig (cluster `context`, user
    `context`-admin there); `cluster` and `user` are the names in its own admin kubeconfig, which may
    collide with another cluster's (two kubeadm clusters both say kubernetes/kubernetes-admin)."""

    context: str
    split_ca: bool = True
    cluster: str = ""
    user: str = ""
    sign_csrs: bool = True  # kube-controller-manager's client signer runs, on the client CA
    cluster_signing_duration: datetime.timedelta = datetime.timedelta(
        days=365
    )  # its --cluster-signing-duration
    server_options: tuple = ()  # (name, value) pairs for APIServer, e.g. (("credential_ids", False),)


# prod like k3s (split CAs, kubeconfig names "default"), staging and lab like kubeadm (one CA called
# "kubernetes", and the same names in their own kubeconfigs: KUBECONFIG=staging:lab keeps staging's)
FLEET = (
    ClusterSpec("prod", split_ca=True, cluster="default", user="default"),
    ClusterSpec("staging", split_ca=False, cluster="kubernetes", user="kubernetes-admin"),
    ClusterSpec("lab", split_ca=False, cluster="kubernetes", user="kubernetes-admin"),
)


@contextmanager
def running_test_clusters(root, specs=FLEET, merged_kubeconfig=None):
    """Test API servers side by side, one per ClusterSpec, each with CAs of its own (running_test_cluster).
    Writes each cluster's admin kubeconfig to ROOT/CONTEXT/admin.kubeconfig (context CONTEXT, the spec's
    cluster and user names) and, when merged_kubeconfig is given, one kubeconfig with a cluster, a user
    and a context per cluster (unique names: CONTEXT, CONTEXT-admin), the first context current.
    Yields [(spec, server, server_ca, client_ca, own kubeconfig)] in the order of specs."""
    root = Path(root)
    with ExitStack() as stack:
        running = []
        for spec in specs:
            split = ("%s-server-ca" % spec.context, "%s-client-ca" % spec.context)
            own = root / spec.context / "admin.kubeconfig"
            server, server_ca, client_ca = stack.enter_context(
                running_test_cluster(
                    root / spec.context / "pki",
                    own,
                    split_ca=spec.split_ca,
                    ca_names=split if spec.split_ca else ("kubernetes", "kubernetes"),
                    cluster=spec.cluster or spec.context,
                    user=spec.user or spec.context + "-admin",
                    context=spec.context,
                    **dict(spec.server_options),
                )
            )
            if spec.sign_csrs:
                server.sign_csrs_with(client_ca.cert, client_ca.key, spec.cluster_signing_duration)
            running.append((spec, server, server_ca, client_ca, own))
        if merged_kubeconfig is not None:
            merge_kubeconfigs(merged_kubeconfig, [(spec.context, own) for spec, *_, own in running])
        yield running


def merge_kubeconfigs(path, contexts):
    """One kubeconfig (mode 0600) from single-context ones: [(context name, file)]; each entry renamed to
    the context name (cluster CONTEXT, user CONTEXT-admin) so that nothing collides; the first current."""
    merged = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": contexts[0][0],
        "preferences": {},
    }
    for context, own in contexts:
        config = json.loads(Path(own).read_text())
        merged["clusters"].append({"name": context, "cluster": config["clusters"][0]["cluster"]})
        merged["users"].append({"name": context + "-admin", "user": config["users"][0]["user"]})
        merged["contexts"].append(
            {"name": context, "context": {"cluster": context, "user": context + "-admin"}}
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(merged, handle, indent=2)
    return path


def finish(process):
    """What a process `start` began ended with (its CompletedProcess), within a minute."""
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
