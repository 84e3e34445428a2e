"""The README's walkthrough of the two sides (request, sign, import, renew --self) is what
tests/walkthrough_person.py runs for real: the same commands in the same order, each doing what the
README shows."""

import re

from helpers import readme_two_sides
from walkthrough_person import steps

# What the README shows each step doing (a line of its output), and the exit code.
EXPECTED = {
    "kubectl usercert request bob developers --key-type ecdsa": (
        0,
        "kubectl usercert sign --csr bob.csr --user bob -g developers",
    ),
    "kubectl usercert sign --csr bob.csr --user bob -g developers --clusterrole view --expiration 8h": (
        0,
        "Bound: usercert:bob:view",
    ),
    "kubectl usercert list": (0, "KEY HELD BY"),
    "kubectl usercert import kubeconfig --set-current --verify": (0, "✓ verified bob"),
    "kubectl config get-contexts": (0, "bob@lab"),
    "kubectl get pods -n default": (0, "web-0"),
    "kubectl usercert renew bob": (2, "renew --self"),
    "kubectl apply -f self-renew.yaml": (0, "usercert:self-renew:bob created"),
    "kubectl usercert renew --self": (0, "Renewed the client certificate of bob"),
    "kubectl auth whoami": (0, "[developers system:authenticated]"),
}


def readme_commands():
    return readme_two_sides("### The walkthrough, two machines against the test API server")


def test_the_readme_walkthrough_runs_as_shown(tmp_path):
    ran = []
    for who, command, done in steps(tmp_path / "walkthrough"):
        if command.startswith("#"):
            continue
        command = re.sub(r"\s+# .*$", "", command)
        ran.append((who, command))
        if command in EXPECTED:
            code, shown = EXPECTED[command]
            assert done.returncode == code and shown in done.stdout, (command, done.stdout)
        else:  # the approval, the one command whose name is computed
            assert command.startswith("kubectl certificate approve usercert-renew-bob-")
            assert done.returncode == 0, done.stdout
    assert ran == readme_commands()
