"""The README's walkthrough of one-hour certificates that renew themselves (import --exec, the
credential plugin, approve --watch) is what tests/walkthrough_self_renewing.py runs for real: the
same commands in the same order, each doing what the README shows."""

import re

from helpers import readme_two_sides
from walkthrough_self_renewing import steps

# What the README shows each step doing (a line of its output), and the exit code.
EXPECTED = {
    "kubectl usercert request bob developers --key-type ecdsa": (
        0,
        "kubectl usercert sign --csr bob.csr --user bob -g developers",
    ),
    "kubectl usercert sign --csr bob.csr --user bob -g developers --clusterrole view --self-renew --expiration 1h": (
        0,
        "Bound: usercert:bob:view, usercert:self-renew:bob",
    ),
    "kubectl usercert import kubeconfig --exec --set-current --renew-before 64m": (
        0,
        "Current context: bob@test-cluster",
    ),
    "kubectl config view --minify -o jsonpath={.users[0].user.exec}": (
        0,
        '"args":["credential","--credential","bob@test-cluster"],"command":"kubectl-usercert"',
    ),
    "kubectl get pods -n default": (0, "web-0"),
    "kubectl usercert approve --watch": (0, "✓ approved usercert-renew-bob-"),
    "kubectl usercert list": (0, "usercert:self-renew:bob"),
}


def readme_commands():
    return readme_two_sides("### The walkthrough: one-hour certificates that renew themselves")


def test_the_readme_walkthrough_runs_as_shown(tmp_path):
    ran, ids = [], []
    for who, command, done in steps(tmp_path / "walkthrough"):
        command = re.sub(r"\s+# .*$", "", command)
        ran.append((who, command))
        if (
            command == "kubectl auth whoami"
        ):  # the credential id: the first certificate's, then another
            assert done.returncode == 0 and "[developers system:authenticated]" in done.stdout
            ids.append(re.search(r"X509SHA256=[0-9a-f]{64}", done.stdout).group(0))
        elif command.startswith("kubectl usercert whois "):  # the one command computed: the new id
            assert command == f"kubectl usercert whois {ids[-1]}"
            assert done.returncode == 0 and "bob (groups: developers) — renewed" in done.stdout
        else:
            code, shown = EXPECTED[command]
            assert done.returncode == code and shown in done.stdout, (command, done.stdout)
    assert len(ids) == 2 and ids[0] != ids[1]  # kubectl went on working, with a new certificate
    assert [
        (who, c if not c.startswith("kubectl usercert whois") else "whois") for who, c in ran
    ] == [
        (who, c if not c.startswith("kubectl usercert whois") else "whois")
        for who, c in readme_commands()
    ]
