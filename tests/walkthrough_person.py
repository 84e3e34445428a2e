#!/usr/bin/env python3
"""The README's walkthrough of the two sides ("The key never leaves its owner"), run for real: the
test API server (split CAs, RBAC, its CSR signer on the client CA, real TLS), the admin's machine
(its kubeconfig as ~/.kube/config, the CA in USERCERT_CA_CERT/USERCERT_CA_KEY) and bob's machine
(a HOME, XDG_DATA_HOME and KUBECONFIG of his own), each running `kubectl usercert` as kubectl finds
it. Prints the transcript; `steps()` gives the same steps to tests/test_person_walkthrough.py.

    python tests/walkthrough_person.py        (with the dev venv's python: it needs cryptography)
"""

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "lib"))

from helpers import running_test_cluster  # noqa: E402

BOBS_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: 'https://10.9.8.7:6443', insecure-skip-tls-verify: true}
users:
- name: bob@lab
  user: {token: lab-token}
contexts:
- name: lab
  context: {cluster: lab, user: bob@lab}
current-context: lab
"""
SELF_RENEW = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "usercert:self-renew:bob"}
rules:
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [create]}
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests]
  verbs: [get, delete]
  resourceNames: [RENEWAL]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "usercert:self-renew:bob"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "usercert:self-renew:bob"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
"""


def main():
    show(steps())


def show(ran):
    """Each step as a terminal shows it: prompt, command, what it printed, and a non-zero exit."""
    for prompt, command, done in ran:
        print(f"{prompt}$ {command}\n{done.stdout}", end="" if done.stdout.endswith("\n") else "\n")
        if done.returncode:
            print(f"(exit {done.returncode})")


def steps(root=None):
    """(prompt, command, CompletedProcess) for each step, as they run, in `root` (default: a new
    temporary folder)."""
    from kubectl_usercert.pki.signers.cluster_csr import self_renewal_name

    root = Path(root or tempfile.mkdtemp(prefix="usercert-walkthrough-person."))
    renewal = self_renewal_name("bob")
    with running_test_cluster(root / "pki", root / "admin" / ".kube" / "config") as (
        server,
        _server_ca,
        client_ca,
    ):
        server.sign_csrs_with(client_ca.cert, client_ca.key)
        admin, bob = _machines(root, client_ca)
        yield bob.run("kubectl usercert request bob developers --key-type ecdsa")
        bob.send("bob.csr", admin)
        yield admin.say("# bob sends bob.csr (a request: no secret in it)")
        yield admin.run(
            "kubectl usercert sign --csr bob.csr --user bob -g developers --clusterrole view --expiration 8h"
        )
        yield admin.run("kubectl usercert list")
        admin.send("clients/bob/kubeconfig", bob)
        yield bob.say("# the admin sends clients/bob/kubeconfig back (a certificate: no key in it)")
        yield bob.run("kubectl usercert import kubeconfig --set-current --verify")
        yield bob.run("kubectl config get-contexts")
        yield bob.run("kubectl get pods -n default")
        yield admin.run("kubectl usercert renew bob")
        (admin.work / "self-renew.yaml").write_text(SELF_RENEW.replace("RENEWAL", renewal))
        yield admin.run("kubectl apply -f self-renew.yaml")
        renewing = bob.start("kubectl usercert renew --self")
        server.wait_for(
            lambda: server.list("certificates.k8s.io/v1", "CertificateSigningRequest"), 120
        )
        approved = admin.run(f"kubectl certificate approve {renewal}")
        yield bob.finish("kubectl usercert renew --self", renewing)
        yield approved[0], approved[1] + "   # while bob's renew --self waited", approved[2]
        yield bob.run("kubectl auth whoami")


def _machines(root, client_ca):
    bin_dir = root / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "kubectl-usercert"  # `kubectl usercert` as kubectl finds it
    plugin.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{HERE.parent / "kubectl-usercert"}" "$@"\n'
    )
    plugin.chmod(0o755)
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "USERCERT_", "XDG_"))
    }
    base.update(NO_COLOR="1", COLUMNS="120", PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    admin_home, bob_home = root / "admin", root / "bob"
    admin = Machine(
        "admin",
        admin_home / "work",
        dict(
            base,
            HOME=str(admin_home),
            USERCERT_CA_CERT=str(client_ca.cert_path),
            USERCERT_CA_KEY=str(client_ca.key_path),
        ),
    )
    (bob_home / ".kube").mkdir(parents=True)
    (bob_home / ".kube" / "config").write_text(BOBS_KUBECONFIG)
    (bob_home / ".kube" / "config").chmod(0o600)
    bob = Machine("bob", bob_home / "work", dict(base, HOME=str(bob_home)))
    return admin, bob


class Machine:
    def __init__(self, prompt, work, env):
        self.prompt, self.work, self.env = prompt, Path(work), env
        self.work.mkdir(parents=True, exist_ok=True)

    def run(self, command):
        done = subprocess.run(
            shlex.split(command),
            cwd=self.work,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )  # stdout and stderr in the order a terminal shows them
        return self.prompt, command, done

    def start(self, command):
        return subprocess.Popen(
            shlex.split(command),
            cwd=self.work,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def finish(self, command, process):
        out, _ = process.communicate(timeout=300)
        return (
            self.prompt,
            command,
            subprocess.CompletedProcess(process.args, process.returncode, out, ""),
        )

    def say(self, comment):
        return self.prompt, comment, subprocess.CompletedProcess([], 0, "", "")

    def send(self, path, other):
        """What travels between the machines: this file, by whatever channel (it holds no key)."""
        (other.work / Path(path).name).write_bytes((self.work / path).read_bytes())


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"# {time.monotonic() - started:.0f}s", file=sys.stderr)
