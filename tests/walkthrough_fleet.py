#!/usr/bin/env python3
"""The README's walkthrough of a fleet ("One person, many clusters"), run for real: three test API
servers with CAs of their own (prod split like k3s, staging and lab one CA each, as kubeadm has
it; each signs approved requests with its client CA), the admin's kubeconfig with a context for
each as ~/.kube/config, prod's and lab's CA files beside the admin (staging signs through its CSR
API), and `kubectl usercert` as kubectl finds it. Prints the transcript; `steps()` gives the same
steps to tests/test_fleet_walkthrough.py.

    python tests/walkthrough_fleet.py        (with the dev venv's python: it needs cryptography)
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "lib"))

from helpers import FLEET, running_test_clusters  # noqa: E402
from walkthrough_person import Machine, show  # noqa: E402

ROSTER = """\
apiVersion: usercert.kubectl.io/v1alpha1
kind: UserRoster
metadata: {name: platform-team}
spec:
  defaults: {keyType: ecdsa}
  clusters:
  - {context: prod, caCert: prod/client-ca.crt, caKey: prod/client-ca.key}
  - {context: staging, signer: csr}
  - {context: lab, caCert: lab/ca.crt, caKey: lab/ca.key}
  users:
  - {name: alice, groups: [developers], clusterRoles: [view]}
  - {name: carol, groups: [sre], clusterRoles: [view], clusters: [prod, lab]}
"""
CREATE = (
    "kubectl usercert create alice developers --key-type ecdsa --clusterrole view"
    " --context prod --context staging --context lab"
    " --ca-cert prod=prod/client-ca.crt --ca-key prod=prod/client-ca.key"
    " --ca-cert lab=lab/ca.crt --ca-key lab=lab/ca.key --approve"
)
FAILING = (
    "kubectl usercert create bob --key-type ecdsa --clusterrole pod-reader"
    " --context prod --context lab"
    " --ca-cert prod=prod/client-ca.crt --ca-key prod=prod/client-ca.key"
    " --ca-cert lab=lab/ca.crt --ca-key lab=lab/ca.key"
)


def main():
    show(steps())


def steps(root=None):
    """(prompt, command, CompletedProcess) for each step, as they run, in `root` (default: a new
    temporary folder)."""
    root = Path(root or tempfile.mkdtemp(prefix="usercert-walkthrough-fleet."))
    admin_kubeconfig = root / "admin" / ".kube" / "config"
    with running_test_clusters(root / "clusters", FLEET, admin_kubeconfig) as running:
        admin = _machine(root, {spec.context: client_ca for spec, _, _, client_ca, _ in running})
        yield admin.run("kubectl config get-contexts")
        yield admin.run(CREATE)
        yield admin.run("kubectl --kubeconfig clients/alice/kubeconfig config get-contexts")
        yield admin.run(
            "kubectl --kubeconfig clients/alice/kubeconfig --context alice@staging auth whoami"
        )
        yield admin.run("kubectl usercert list")
        yield admin.run(
            "kubectl --context prod create clusterrole pod-reader --verb=get --resource=pods"
        )
        yield admin.run(FAILING)
        yield admin.run("ls clients")
        yield admin.run("kubectl usercert renew alice --context staging")
        yield admin.run("kubectl usercert revoke alice --context lab")
        yield admin.run("kubectl usercert verify alice")
        (admin.work / "team.yaml").write_text(ROSTER)
        yield admin.run("cat team.yaml")
        yield admin.run("kubectl usercert apply -f team.yaml")
        yield admin.run("kubectl --context lab get clusterrolebindings")


def _machine(root, client_cas):
    """The admin's machine: `kubectl usercert` on PATH, the merged kubeconfig as ~/.kube/config, and
    prod's and lab's CA files in the working folder."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "kubectl-usercert"  # `kubectl usercert` as kubectl finds it
    plugin.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{HERE.parent / "kubectl-usercert"}" "$@"\n'
    )
    plugin.chmod(0o755)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "USERCERT_", "XDG_"))
    }
    env.update(
        NO_COLOR="1",
        COLUMNS="120",
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        HOME=str(root / "admin"),
    )
    admin = Machine("admin", root / "admin" / "work", env)
    for context, name in (("prod", "client-ca"), ("lab", "ca")):
        (admin.work / context).mkdir(mode=0o700)
        for source, suffix in (
            (client_cas[context].cert_path, "crt"),
            (client_cas[context].key_path, "key"),
        ):
            shutil.copy(source, admin.work / context / f"{name}.{suffix}")
    return admin


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"# {time.monotonic() - started:.0f}s", file=sys.stderr)
