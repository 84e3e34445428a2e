#!/usr/bin/env python3
"""The README's team walkthrough, run for real: the test API server (split CAs, RBAC, real TLS), an
admin kubeconfig as ~/.kube/config, and `kubectl usercert apply` applied, re-applied, changed and
pruned, each step checked with real `kubectl auth whoami`. Prints the transcript.

    python tests/walkthrough.py        (with the dev venv's python: it needs cryptography)

test_apply.py's test_a_roster_against_the_cluster checks the same steps; this prints them.
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "lib"))

from helpers import running_test_cluster  # noqa: E402

TEAM = """\
apiVersion: usercert.kubectl.io/v1alpha1
kind: UserRoster
metadata: {name: platform-team}
spec:
  defaults: {days: 30, renewBefore: 10d, keyType: ecdsa, namespace: team-a}
  users:
  - name: alice
    groups: [developers, oncall]
    preset: read-only
  - name: bob
    groups: [developers]
    clusterRoles: [view]
  - name: carol
    groups: [developers]
    roles: [{name: pod-reader, namespace: team-a}]
"""
CHANGED = (
    TEAM.replace("groups: [developers, oncall]", "groups: [developers, sre]")
    .replace("clusterRoles: [view]", "clusterRoles: [edit]")
    .replace(
        "  - name: carol\n    groups: [developers]\n    roles: [{name: pod-reader, namespace: team-a}]\n",
        "",
    )
)


def main():
    root = Path(tempfile.mkdtemp(prefix="usercert-walkthrough."))
    work, home = root / "work", root / "home"
    work.mkdir()
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KUBECONFIG", "USERCERT_CA_CERT", "USERCERT_CA_KEY")
    }
    env.update(HOME=str(home), NO_COLOR="1", COLUMNS="120")
    with running_test_cluster(root / "pki", home / ".kube" / "config") as (
        server,
        _server_ca,
        client_ca,
    ):
        server.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
        shell = Session(work, env, client_ca)
        shell.run("kubectl create role pod-reader --verb=get,list --resource=pods -n team-a")
        (work / "team.yaml").write_text(TEAM)
        shell.say("cat team.yaml", TEAM)
        shell.run("kubectl usercert apply -f team.yaml --dry-run")
        shell.run("kubectl usercert apply -f team.yaml")
        shell.whoami("alice", "bob", "carol")
        shell.run("kubectl --kubeconfig clients/alice/kubeconfig get pods -n team-a")
        shell.run("kubectl usercert apply -f team.yaml")
        (work / "team.yaml").write_text(CHANGED)
        shell.say("# alice: oncall -> sre; bob: view -> edit; carol removed", "")
        shell.run("kubectl usercert apply -f team.yaml --prune")
        shell.whoami("alice")
        shell.run(
            "kubectl get clusterrolebindings,rolebindings -A -l app.kubernetes.io/managed-by=kubectl-usercert"
        )
        shell.run("kubectl usercert list")


class Session:
    def __init__(self, work, env, client_ca):
        self.work, self.env = work, env
        bin_dir = work.parent / "bin"
        bin_dir.mkdir()
        plugin = (
            bin_dir / "kubectl-usercert"
        )  # `kubectl usercert` as kubectl finds it, the CA given as flags
        plugin.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{HERE.parent / "kubectl-usercert"}" "$@"\n'
        )
        plugin.chmod(0o755)
        self.env["PATH"] = f"{bin_dir}{os.pathsep}{self.env['PATH']}"
        self.env["USERCERT_CA_CERT"], self.env["USERCERT_CA_KEY"] = (
            str(client_ca.cert_path),
            str(client_ca.key_path),
        )

    def say(self, command, output):
        print(f"$ {command}\n{output}", end="" if output.endswith("\n") or not output else "\n")

    def run(self, command):
        done = subprocess.run(
            shlex.split(command),
            cwd=self.work,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # in the order a terminal shows them
        self.say(command, done.stdout)
        if done.returncode:
            print(f"(exit {done.returncode})")

    def whoami(self, *users):
        for user in users:
            done = subprocess.run(
                [
                    "kubectl",
                    "--kubeconfig",
                    f"clients/{user}/kubeconfig",
                    "auth",
                    "whoami",
                    "-o",
                    "json",
                ],
                cwd=self.work,
                env=self.env,
                capture_output=True,
                text=True,
            )
            info = (
                json.loads(done.stdout)["status"]["userInfo"]
                if done.returncode == 0
                else done.stderr
            )
            self.say(
                f"kubectl --kubeconfig clients/{user}/kubeconfig auth whoami",
                f"  user {info['username']}, groups {', '.join(info['groups'])}\n"
                if isinstance(info, dict)
                else info,
            )


if __name__ == "__main__":
    main()
