"""A plan tells the truth (issue 17, item 7): a dry run makes every check the real run makes before it
issues anything, fails each user the real run would fail, exits 1 then, and writes nothing; with
--dry-run=server the cluster is asked too, with dryRun=All, and keeps nothing. The flag reads as
kubectl's: --dry-run[=none|client|server]."""

import json
import os
from pathlib import Path

import pytest

import schema
from helpers import EC, SERVER, ca_args, ledger_lines, run_cli, run_here, tree

RBAC = "rbac.authorization.k8s.io/v1"
KUBECTL_SAYS = 'error: Invalid dry-run value (bogus). Must be "none", "server", or "client".'


def roster(*users, defaults="{days: 30, keyType: ecdsa}"):
    Path("team.yaml").write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nspec:\n"
        f"  defaults: {defaults}\n  users:\n" + "".join(f"  - {user}\n" for user in users)
    )


def users_of(result, code):
    assert result.returncode == code, result.stderr
    obj = json.loads(result.stdout)
    schema.check(obj)
    assert obj["spec"]["dryRun"] is True
    return {user["name"]: user for user in obj["status"]["users"]}


# The flag, as kubectl reads it


@pytest.mark.parametrize(
    "command", [["apply", "-f", "team.yaml"], ["revoke", "alice"], ["create", "alice"]]
)
def test_an_invalid_dry_run_value_in_kubectl_s_words(capsys, isolated, command):
    roster("{name: alice}")
    result = run_here(capsys, *command, "--dry-run=bogus")
    assert result.returncode == 2 and result.stderr.splitlines()[0] == KUBECTL_SAYS, result.stderr
    assert tree(isolated) == ["team.yaml"]


@pytest.mark.parametrize(
    "spelling, planned",
    [
        (["--dry-run"], True),
        (["--dry-run=client"], True),
        (["--dry-run=true"], True),
        (["--dry-run=none"], False),
        (["--dry-run=false"], False),
        ([], False),
    ],
)
def test_dry_run_spellings(capsys, signing_ca, isolated, spelling, planned):
    roster("{name: alice}")
    result = run_here(
        capsys,
        "apply",
        "-f",
        "team.yaml",
        *spelling,
        "-o",
        "json",
        *ca_args(signing_ca),
        "--server",
        SERVER,
    )  # (-o after a bare --dry-run: not taken as its value)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["spec"]["dryRun"] is planned
    assert os.path.exists("clients/alice") is not planned


def test_a_value_only_with_equals_as_in_kubectl(capsys, signing_ca, isolated):
    roster("{name: alice}")
    result = run_here(
        capsys, "revoke", "alice", "--dry-run", "server"
    )  # `server` is a second USER here
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert tree(isolated) == ["team.yaml"]


# create --dry-run: every check, nothing written, no key made; the plan on stdout with -o


def test_create_dry_run_checks_everything_and_writes_nothing(capsys, signing_ca, isolated):
    plan = run_here(
        capsys,
        "create",
        "alice",
        "-g",
        "dev",
        *EC,
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "--dry-run",
        "-o",
        "json",
    )
    users = users_of(plan, 0)
    assert users["alice"]["actions"] == ["create"] and users["alice"]["outcome"] == "planned"
    assert "subject /O=dev/CN=alice, key ECDSA P-256" in users["alice"]["notes"]
    assert tree(isolated) == []
    masters = run_here(
        capsys,
        "create",
        "alice",
        "-g",
        "system:masters",
        *EC,
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "--dry-run",
    )
    assert masters.returncode == 2 and "group system:masters is refused" in masters.stderr
    assert (
        run_here(
            capsys, "create", "alice", *EC, *ca_args(signing_ca), "--server", SERVER
        ).returncode
        == 0
    )
    again = run_here(
        capsys, "create", "alice", *EC, *ca_args(signing_ca), "--server", SERVER, "--dry-run"
    )
    assert again.returncode == 3 and "clients/alice already exists" in again.stderr
    no_ca = run_here(
        capsys,
        "create",
        "bob",
        *EC,
        "--ca-cert",
        "nowhere.crt",
        "--ca-key",
        "nowhere.key",
        "--server",
        SERVER,
        "--dry-run",
    )
    assert no_ca.returncode == 2 and "nowhere.crt" in no_ca.stderr
    assert [line["user"] for line in ledger_lines()] == ["alice"]


# apply --dry-run: each user the real run would fail fails in the plan


def test_apply_dry_run_fails_each_user_as_the_real_run_would(live_cluster, isolated):
    live_cluster.server.seed(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    )
    taken = {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "usercert:dave:view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "someone-else"}
        ],
    }
    live_cluster.server.seed(taken)
    roster(
        "{name: alice, preset: read-only, namespace: nowhere}",
        "{name: bob, roles: [{name: nobody, namespace: default}]}",
        "{name: erin, clusterRoles: [no-such-role]}",
        "{name: dave, clusterRoles: [view]}",
        "{name: frank, namespace: team-a, clusterRoles: [view], roles: [{name: view, namespace: team-a}]}",
        "{name: gina, groups: [system:masters]}",
        "{name: carol, preset: read-only, namespace: team-a}",
    )
    expected = {
        "alice": 'namespace "nowhere" does not exist',
        "bob": 'Role "nobody" in namespace "default" does not',
        "erin": 'ClusterRole "no-such-role" does not exist',
        "dave": 'ClusterRoleBinding "usercert:dave:view" exists and binds something else',
        "frank": 'two bindings would be RoleBinding "usercert:frank:view" in team-a',
        "gina": "group system:masters is refused",
    }
    for flag in ("--dry-run", "--dry-run=server"):
        users = users_of(
            run_cli("apply", "-f", "team.yaml", flag, *live_cluster.ca_args, "-o", "json"), 1
        )
        for name, error in expected.items():
            assert users[name]["outcome"] == "failed" and error in users[name]["error"], (
                flag,
                users[name],
            )
        assert users["carol"]["outcome"] == "planned", users["carol"]
        assert tree(isolated) == ["team.yaml"]
    dry = [r for r in live_cluster.server.records() if "dryRun=All" in r.query]
    assert {r.path.rsplit("/", 1)[-1] for r in dry} >= {
        "clusterroles",
        "rolebindings",
    }  # carol's, asked, not kept
    bindings = live_cluster.server.list(RBAC, "RoleBinding", "team-a") + live_cluster.server.list(
        RBAC, "ClusterRole"
    )
    assert not [
        b
        for b in bindings
        if "carol" in b["metadata"]["name"] or b["metadata"]["name"] == "usercert:read-only"
    ]

    real = run_cli("apply", "-f", "team.yaml", *live_cluster.ca_args, "-o", "json")
    assert real.returncode == 1
    outcomes = {
        user["name"]: user["error"] or user["outcome"]
        for user in json.loads(real.stdout)["status"]["users"]
    }
    assert {
        name: expected.get(name, "done") in outcome for name, outcome in outcomes.items()
    } == dict.fromkeys(outcomes, True), outcomes
    assert sorted(os.listdir("clients")) == [".usercert", "carol"]


def limited_admin(cluster):
    """A kubeconfig whose user may read everything a plan reads, and change nothing."""
    cluster.server.seed(
        {
            "apiVersion": RBAC,
            "kind": "ClusterRole",
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
        },
        {
            "apiVersion": RBAC,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "reader",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "reader"}
            ],
        },
    )
    return str(cluster.credentials("reader"))


def test_server_dry_run_asks_what_only_the_cluster_knows(live_cluster, isolated):
    """Permission to bind and to submit a request is the cluster's to say: client passes, server fails."""
    reader = limited_admin(live_cluster)
    roster("{name: lisa, clusterRoles: [view]}")
    client = users_of(
        run_cli(
            "apply",
            "-f",
            "team.yaml",
            "--dry-run=client",
            "--kubeconfig",
            reader,
            *live_cluster.ca_args,
            "-o",
            "json",
        ),
        0,
    )
    assert client["lisa"]["outcome"] == "planned"
    server = users_of(
        run_cli(
            "apply",
            "-f",
            "team.yaml",
            "--dry-run=server",
            "--kubeconfig",
            reader,
            *live_cluster.ca_args,
            "-o",
            "json",
        ),
        1,
    )
    assert (
        server["lisa"]["error"]
        == "kubectl could not apply the RBAC bindings (server dry run): not permitted (RBAC)"
    )

    planned = run_cli(
        "create", "mona", "-g", "dev", *EC, "--signer", "csr", "--dry-run=server", "-o", "json"
    )
    assert users_of(planned, 0)["mona"]["outcome"] == "planned", planned.stderr
    posts = [
        r
        for r in live_cluster.server.records()
        if r.method == "POST" and "certificatesigningrequests" in r.path
    ]
    assert posts and all("dryRun=All" in r.query for r in posts)
    assert live_cluster.server.list("certificates.k8s.io/v1", "CertificateSigningRequest") == []
    refused = run_cli(
        "create", "mona", *EC, "--signer", "csr", "--dry-run=server", "--kubeconfig", reader
    )
    assert (
        refused.returncode == 1
        and "could not create the CertificateSigningRequest (server dry run)" in refused.stderr
    ), refused.stderr
    assert tree(isolated) == ["team.yaml"]


# revoke --dry-run: the plan on stdout; server asks the cluster to delete, and it keeps everything


def test_revoke_dry_run_plan_on_stdout_and_server_asks(live_cluster, isolated):
    assert (
        run_cli("create", "alice", *EC, "--clusterrole", "view", *live_cluster.ca_args).returncode
        == 0
    )
    before = tree(isolated)
    for flag in ("--dry-run", "--dry-run=server"):
        result = run_cli("revoke", "alice", flag, "-o", "json")
        assert result.returncode == 0, result.stderr
        plan = json.loads(result.stdout)
        assert plan["spec"] == {"user": "alice", "dryRun": True}
        assert [b["name"] for b in plan["status"]["bindingsRemoved"]] == ["usercert:alice:view"]
        assert tree(isolated) == before
    assert [
        r.method
        for r in live_cluster.server.records()
        if "dryRun" in r.query or r.method == "DELETE"
    ] == ["DELETE"]
    assert live_cluster.server.get(RBAC, "ClusterRoleBinding", "usercert:alice:view")
    refused = run_cli(
        "revoke",
        "alice",
        "--dry-run=server",
        "--kubeconfig",
        limited_admin(live_cluster),
        "-o",
        "json",
    )
    assert refused.returncode == 1
    assert "could not be deleted" in json.loads(refused.stdout)["status"]["remaining"][0]
    assert tree(isolated) == before and [line["event"] for line in ledger_lines()] == ["issued"]


def test_the_throwaway_request_on_every_openssl(live_cluster, isolated, openssl_flavour):
    """The dry run's request is made from a key that openssl reads on stdin, never from a file."""
    planned = run_cli(
        "create", "mona", "-g", "dév", *EC, "--signer", "csr", "--dry-run=server", "-o", "json"
    )
    assert users_of(planned, 0)["mona"]["outcome"] == "planned", planned.stderr
    posts = [
        r
        for r in live_cluster.server.records()
        if r.method == "POST" and "certificatesigningrequests" in r.path
    ]
    assert [r.status for r in posts] == [201] and "dryRun=All" in posts[0].query
    assert (
        tree(isolated) == []
        and live_cluster.server.list("certificates.k8s.io/v1", "CertificateSigningRequest") == []
    )
