"""The README's walkthrough of a fleet ("One person, many clusters") is what tests/walkthrough_fleet.py
runs for real against three test API servers: the same commands in the same order, each doing what
the README shows, and what it shows checked on the clusters and in the files."""

import base64
import re

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from helpers import ROOT
from walkthrough_fleet import CREATE, FAILING, steps

# What the README shows each step doing (a line of its output), and the exit code.
EXPECTED = {
    "kubectl config get-contexts": (0, "staging-admin"),
    CREATE: (0, "Bound on every cluster: usercert:alice:view"),
    "kubectl --kubeconfig clients/alice/kubeconfig config get-contexts": (0, "alice@staging"),
    "kubectl --kubeconfig clients/alice/kubeconfig --context alice@staging auth whoami": (
        0,
        "[developers system:authenticated]",
    ),
    "kubectl usercert list": (0, "CLUSTER"),
    "kubectl --context prod create clusterrole pod-reader --verb=get --resource=pods": (
        0,
        "pod-reader created",
    ),
    FAILING: (1, 'lab (context lab): ClusterRole "pod-reader" does not exist'),
    "ls clients": (0, "alice"),
    "kubectl usercert renew alice --context staging": (0, "Renewed alice on 1 cluster(s)"),
    "kubectl usercert revoke alice --context lab": (
        0,
        "Deleted ClusterRoleBinding usercert:alice:view",
    ),
    "kubectl usercert verify alice": (0, "✓ verified alice"),
    "cat team.yaml": (0, "clusters: [prod, lab]"),
    "kubectl usercert apply -f team.yaml": (0, "3 created, 3 rebound, 2 unchanged"),
    "kubectl --context lab get clusterrolebindings": (0, "usercert:carol:view"),
}


def readme_commands():
    """The `admin$ command` lines of the README's fleet walkthrough."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### The walkthrough, three clusters against test API servers")[1]
    block = section.split("```console\n")[1].split("```")[0]
    return re.findall(r"^admin\$ (.*)$", block, re.M)


def public_keys(kubeconfig):
    """{context: the SubjectPublicKeyInfo of its user's certificate} of a kubeconfig."""
    config = yaml.safe_load(kubeconfig.read_text())
    users = {u["name"]: u["user"] for u in config["users"]}
    found = {}
    for context in config["contexts"]:
        data = users[context["context"]["user"]]["client-certificate-data"]
        cert = x509.load_pem_x509_certificate(base64.b64decode(data))
        found[context["name"]] = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return found


def test_the_readme_walkthrough_runs_as_shown(tmp_path):
    ran, outputs = [], {}
    for _who, command, done in steps(tmp_path / "walkthrough"):
        ran.append(command)
        outputs[command] = done.stdout
        code, shown = EXPECTED[command]
        assert done.returncode == code and shown in done.stdout, (command, done.stdout)
        if command == "kubectl usercert list":  # after create: alice on each cluster, bound there
            rows = [line.split() for line in done.stdout.splitlines() if line.startswith("alice")]
            assert sorted(row[1] for row in rows) == ["lab", "prod", "staging"]
            assert all(row[-1] == "usercert:alice:view" for row in rows)
    assert ran == readme_commands()
    assert outputs["ls clients"].split() == ["alice"]  # bob failed on lab: nothing of his anywhere
    kubeconfig = tmp_path / "walkthrough" / "admin" / "work" / "clients" / "alice" / "kubeconfig"
    keys = public_keys(kubeconfig)
    assert sorted(keys) == ["alice@lab", "alice@prod", "alice@staging"]  # lab back, by apply
    assert len(set(keys.values())) == 1  # one key, in every cluster's certificate
