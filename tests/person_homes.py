"""Two machines in one test: the admin's (the test's own HOME, ~/.kube/config the live cluster's
admin kubeconfig, the out-dir in the working folder) and the person's (a HOME, XDG_DATA_HOME and
KUBECONFIG of their own, with contexts of their own that must survive every import). Each runs the
real CLI and real kubectl as a process with its own environment."""

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from helpers import LAUNCHER, start_launcher

# The person's kubeconfig before anything is imported: another cluster, a token user, an exec user.
PERSON_KUBECONFIG = """\
apiVersion: v1
kind: Config
preferences: {colors: true}
clusters:
- name: elsewhere
  cluster:
    server: https://10.9.8.7:6443
    insecure-skip-tls-verify: true
users:
- name: me@elsewhere
  user: {token: not-a-real-token}
- name: sso
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: kubelogin, args: [get-token], interactiveMode: Never}
contexts:
- name: elsewhere
  context: {cluster: elsewhere, user: me@elsewhere, namespace: team}
- name: sso@elsewhere
  context: {cluster: elsewhere, user: sso}
current-context: elsewhere
"""


class Machine:
    """One side: its HOME, working folder and environment; `cli` and `kubectl` run there."""

    def __init__(self, home, work, environment):
        self.home, self.work, self.env = Path(home), Path(work), environment

    def cli(self, *args, timeout=180):
        return subprocess.run(
            [sys.executable, str(LAUNCHER), *map(str, args)],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.work,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )

    def start(self, *args):
        """The CLI in the background (someone else acts meanwhile)."""
        return start_launcher(*args, env=self.env, cwd=self.work)

    def kubectl(self, *args):
        kubectl = shutil.which("kubectl", path="/usr/bin") or "kubectl"
        return subprocess.run(
            [kubectl, "--request-timeout=20s", *map(str, args)],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.work,
            timeout=60,
        )

    def whoami(self, *args, extra=False):
        """The user the cluster sees (`kubectl auth whoami`); with extra, its credential id too."""
        result = self.kubectl("auth", "whoami", "-o", "json", *args)
        assert result.returncode == 0, result.stderr
        info = json.loads(result.stdout)["status"]["userInfo"]
        if not extra:
            info.pop("extra", None)
        return info

    def config(self):
        """The person's kubeconfig as kubectl reads it (raw)."""
        result = self.kubectl("config", "view", "--raw", "-o", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    @property
    def store(self):
        return Path(self.env["XDG_DATA_HOME"]) / "kubectl-usercert"


def admin_machine(work):
    home = Path(os.environ["HOME"])
    env = dict(os.environ, KUBECONFIG=str(home / ".kube" / "config"))
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    return Machine(home, work, env)


def person_machine(root, kubeconfig_text=PERSON_KUBECONFIG):
    home = Path(root)
    (home / ".kube").mkdir(parents=True)
    (home / "work").mkdir()
    kubeconfig = home / ".kube" / "config"
    kubeconfig.write_text(kubeconfig_text)
    kubeconfig.chmod(0o600)
    env = dict(os.environ, HOME=str(home), KUBECONFIG=str(kubeconfig))
    env["XDG_DATA_HOME"] = str(home / "data")
    return Machine(home, home / "work", env)


def bob_signed(admin, person, *sign_args, bundle="kubeconfig"):
    """bob's request (group dev, an ECDSA key) made on the person's machine, signed by the admin
    (`sign --csr bob.csr --user bob -g dev SIGN_ARGS`), and the bundle the admin wrote copied to the
    person's working folder as `bundle`, ready to import."""
    asked = person.cli("request", "bob", "dev", "--key-type", "ecdsa")
    assert asked.returncode == 0, asked.stderr
    shutil.copy(person.work / "bob.csr", admin.work / "bob.csr")
    signed = admin.cli("sign", "--csr", "bob.csr", "--user", "bob", "-g", "dev", *sign_args)
    assert signed.returncode == 0, signed.stderr
    shutil.copy(admin.work / "clients" / "bob" / "kubeconfig", person.work / bundle)


def other_entries(config, added):
    """Every entry of a kubeconfig but the `added` names, each as canonical JSON (to compare bytes)."""
    return {
        (kind, item["name"]): json.dumps(item, sort_keys=True)
        for kind in ("clusters", "users", "contexts")
        for item in config.get(kind) or []
        if item["name"] not in added
    }


def key_forms(key_path):
    """Every form the person's private key could travel in: its PEM file's bytes, their base64 (as
    client-key-data holds them), its DER (PKCS#8 and the traditional form), the PEM body."""
    pem = Path(key_path).read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    forms = {
        "PEM": pem,
        "base64 PEM": base64.b64encode(pem),
        "PEM body": b"".join(pem.strip().splitlines()[1:-1])[:64],
    }
    for name, fmt in (
        ("PKCS8 DER", serialization.PrivateFormat.PKCS8),
        ("traditional DER", serialization.PrivateFormat.TraditionalOpenSSL),
    ):
        try:
            forms[name] = key.private_bytes(
                serialization.Encoding.DER, fmt, serialization.NoEncryption()
            )
        except ValueError:  # (Ed25519 has no traditional form)
            pass
    return forms


def files_holding(roots, forms):
    """[(file, form)] for every file under `roots` that holds one of `forms`."""
    found = []
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                found += [(str(path), name) for name, form in forms.items() if form in data]
    return found


def person_keys(person):
    return sorted((person.store / "keys").glob("*.key"))


# Runs the CLI with a fault at the Nth change it makes to a file (a rename or a removal, outside the
# scratch folder): USERCERT_TEST_FAULT=kill:N is a SIGKILL just before it, full:N makes every
# write to a file from the Nth on fail as a full disk does. The count of changes (and writes)
# a whole run made is written to USERCERT_TEST_FAULT_COUNT when it ends.
FAULTY = r"""
import atexit, errno, os, runpy, signal, stat, sys
kind, _, at = os.environ.pop("USERCERT_TEST_FAULT", "none:0").partition(":")
at, seen = int(at), {"change": 0, "write": 0}
real = {name: getattr(os, name) for name in ("rename", "replace", "unlink", "rmdir", "write")}
def counted(name):
    def call(*args, **kwargs):
        if name == "write":
            try:
                regular = stat.S_ISREG(os.fstat(args[0]).st_mode)
            except OSError:
                regular = False
            if regular:
                seen["write"] += 1
                if kind == "full" and seen["write"] >= at:
                    raise OSError(errno.ENOSPC, "No space left on device")
        elif "/.scratch-" not in str(args[0]):
            seen["change"] += 1
            if kind == "kill" and seen["change"] == at:
                os.kill(os.getpid(), signal.SIGKILL)
        return real[name](*args, **kwargs)
    return call
for name in real:
    setattr(os, name, counted(name))
count = os.environ.pop("USERCERT_TEST_FAULT_COUNT", "")
if count:
    atexit.register(lambda: open(count, "w").write("%(change)d %(write)d" % seen))
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.join(os.path.dirname(sys.argv[0]), "lib"))
from kubectl_usercert.operations import self_renew  # a background renewal asks every 0.1 s here
self_renew.BACKGROUND_POLL_SECONDS = 0.1
runpy.run_path(sys.argv[0], run_name="__main__")
"""
FAULTY_CLI = [sys.executable, "-c", FAULTY, str(LAUNCHER)]
