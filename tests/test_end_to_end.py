"""End to end: kubeconfigs made by `kubectl usercert` used by real kubectl against the test API server,
through a real TLS handshake, authenticated the way kube-apiserver authenticates client certificates."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import pki
from helpers import LAUNCHER, run_cli
from helpers import whoami as whoami_of

GCLOUD_BIN = Path("/usr/lib/google-cloud-sdk/bin")
KUBECTLS = [pytest.param(Path("/usr/bin/kubectl"), id="kubectl")] + [
    pytest.param(GCLOUD_BIN / f"kubectl.1.{minor}", id=f"kubectl-1.{minor}")
    for minor in range(27, 34)
]
KEYS = [
    pytest.param(["--key-type", "rsa", "--key-size", "2048"], id="rsa"),
    pytest.param(["--key-type", "ecdsa"], id="ecdsa"),
    pytest.param(["--key-type", "ed25519"], id="ed25519"),
]


def create(cluster, user, *args):
    result = run_cli("create", user, *args, *cluster.ca_args)
    assert result.returncode == 0, result.stderr
    return result


def kubeconfig_of(user):
    return Path("clients") / user / "kubeconfig"


def whoami(cluster, user, binary="kubectl"):
    return whoami_of(cluster, kubeconfig_of(user), binary)


@pytest.mark.parametrize("binary", KUBECTLS)
@pytest.mark.parametrize("key_args", KEYS)
def test_whoami_reports_exactly_the_user_and_groups(live_cluster, binary, key_args):
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed")
    create(live_cluster, "alice", "-g", "developers", "-g", "oncall", *key_args)
    info = whoami(live_cluster, "alice", binary)
    assert info["username"] == "alice"
    assert info["groups"] == ["developers", "oncall", "system:authenticated"]


def test_split_ca_kubeconfig_trusts_the_server_ca_and_the_client_ca_signs(live_cluster, isolated):
    create(live_cluster, "alice", "dev", "--key-type", "ecdsa")
    assert whoami(live_cluster, "alice")["username"] == "alice"
    view = live_cluster.kubectl(kubeconfig_of("alice"), "config", "view", "--raw", "-o", "json")
    cluster = json.loads(view.stdout)["clusters"][0]
    assert (
        cluster["name"] == "test-cluster"
        and cluster["cluster"]["server"] == live_cluster.server.url
    )


def test_wrong_ca_gets_401(live_cluster, tmp_path):
    other = pki.make_ca(tmp_path / "other", "not-the-client-ca")
    assert (
        run_cli(
            "create",
            "mallory",
            "--key-type",
            "ecdsa",
            "--ca-cert",
            other.cert_path,
            "--ca-key",
            other.key_path,
        ).returncode
        == 0
    )
    result = live_cluster.kubectl(kubeconfig_of("mallory"), "auth", "whoami")
    assert result.returncode != 0 and "Unauthorized" in result.stderr
    assert live_cluster.server.records(status=401)


def test_injection_attempt_is_a_literal_user(live_cluster):
    create(live_cluster, "alice/O=system:masters", "--key-type", "ecdsa")
    info = whoami(live_cluster, "alice%2F^o=system:masters")
    assert info == {"username": "alice/O=system:masters", "groups": ["system:authenticated"]}
    pods = live_cluster.kubectl(kubeconfig_of("alice%2F^o=system:masters"), "get", "pods")
    assert "Forbidden" in pods.stderr  # not a superuser


def test_blog_scenario_through_the_tool_alone(live_cluster, isolated):
    create(live_cluster, "brancz", "dev", "--key-type", "ecdsa", "--preset", "read-only")
    create(live_cluster, "eve", "dev", "--key-type", "ecdsa")
    pods = live_cluster.kubectl(kubeconfig_of("brancz"), "get", "pods", "-n", "default")
    assert pods.returncode == 0, pods.stderr
    denied = live_cluster.kubectl(kubeconfig_of("eve"), "get", "pods", "-n", "default")
    assert denied.returncode != 0
    assert (
        'User "eve" cannot list resource "pods" in API group "" in the namespace "default"'
        in denied.stderr
    )

    revoked = run_cli("revoke", "brancz", "-o", "json")
    assert revoked.returncode == 0, revoked.stderr
    record = json.loads(revoked.stdout)["status"]
    assert [b["name"] for b in record["bindingsRemoved"]] == ["usercert:brancz:usercert:read-only"]
    assert record["certificateStillValid"] is True and record["recorded"] is True
    assert "stays valid until" in revoked.stderr
    # The certificate still authenticates (nothing can revoke it), but RBAC now says no.
    shutil.copytree(record["archivedTo"], "brancz-copy")
    still = live_cluster.kubectl(Path("brancz-copy/kubeconfig"), "get", "pods", "-n", "default")
    assert "Forbidden" in still.stderr
    ledger = [
        json.loads(line) for line in Path("clients/.usercert/ledger.jsonl").read_text().splitlines()
    ]
    assert ledger[-1]["event"] == "revoked" and ledger[-1]["user"] == "brancz"
    listing = json.loads(run_cli("list", "-o", "json").stdout)
    assert {item["spec"]["user"]: item["status"]["state"] for item in listing["items"]}[
        "brancz"
    ] == "revoked"


def test_revoke_dry_run_changes_nothing(live_cluster, isolated):
    create(live_cluster, "brancz", "dev", "--key-type", "ecdsa", "--clusterrole", "view")
    result = run_cli("revoke", "brancz", "--dry-run", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert [b["name"] for b in json.loads(result.stdout)["status"]["bindingsRemoved"]] == [
        "usercert:brancz:view"
    ]
    assert "Would delete" in result.stderr
    assert Path("clients/brancz/kubeconfig").exists()
    assert live_cluster.kubectl(kubeconfig_of("brancz"), "get", "pods").returncode == 0


def test_print_rbac_pipes_into_kubectl_apply(live_cluster, isolated):
    result = run_cli(
        "create",
        "carol",
        "dev",
        "--key-type",
        "ecdsa",
        "--preset",
        "read-only",
        "--print-rbac",
        *live_cluster.ca_args,
    )
    assert result.returncode == 0, result.stderr
    assert (
        live_cluster.kubectl(kubeconfig_of("carol"), "get", "pods").returncode != 0
    )  # nothing applied yet
    applied = live_cluster.admin("apply", "-f", "-", stdin=result.stdout)
    assert applied.returncode == 0, applied.stderr
    assert live_cluster.kubectl(kubeconfig_of("carol"), "get", "pods").returncode == 0


def test_the_folder_keeps_the_bindings_as_applied_in_rbac_yaml(live_cluster, isolated):
    """rbac.yaml (private) holds what create applied: kubectl apply -f finds every object unchanged;
    a user with no bindings gets no rbac.yaml."""
    create(live_cluster, "erin", "dev", "--key-type", "ecdsa", "--clusterrole", "view")
    kept = Path("clients/erin/rbac.yaml")
    assert kept.stat().st_mode & 0o777 == 0o600
    again = live_cluster.admin("apply", "-f", str(kept))
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert lines and all(line.endswith(" unchanged") for line in lines), again.stdout
    assert any("usercert:erin:view" in line for line in lines)
    create(live_cluster, "fay", "dev", "--key-type", "ecdsa")
    assert not Path("clients/fay/rbac.yaml").exists()


def test_rerunning_create_with_the_same_bindings_changes_nothing(live_cluster, isolated):
    create(live_cluster, "dan", "--key-type", "ecdsa", "--clusterrole", "view", "-o", "json")
    binding = ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "usercert:dan:view")
    before = live_cluster.server.get(*binding)["metadata"]["resourceVersion"]
    again = create(
        live_cluster, "dan", "--key-type", "ecdsa", "--clusterrole", "view", "--force", "-o", "json"
    )
    assert [b["name"] for b in json.loads(again.stdout)["status"]["bindings"]] == [
        "usercert:dan:view"
    ]
    assert live_cluster.server.get(*binding)["metadata"]["resourceVersion"] == before  # unchanged


def test_namespaced_role_and_group_binding(live_cluster, isolated):
    live_cluster.server.seed(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    )
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "pod-reader", "namespace": "team-a"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    }
    assert live_cluster.admin("apply", "-f", "-", stdin=json.dumps(role)).returncode == 0
    create(
        live_cluster,
        "erin",
        "team-a-devs",
        "--key-type",
        "ecdsa",
        "--role",
        "pod-reader",
        "-n",
        "team-a",
        "--bind-group",
    )
    created = live_cluster.admin("get", "rolebinding", "-n", "team-a", "-o", "json")
    [binding] = json.loads(created.stdout)["items"]
    assert binding["metadata"]["name"] == "usercert:group:team-a-devs:pod-reader"
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team-a-devs"}
    ]
    assert (
        live_cluster.kubectl(kubeconfig_of("erin"), "get", "pods").returncode == 0
    )  # -n team-a is its context
    assert (
        live_cluster.kubectl(kubeconfig_of("erin"), "get", "pods", "-n", "default").returncode != 0
    )


def test_missing_role_fails_before_any_key_is_made(live_cluster, isolated):
    result = run_cli(
        "create",
        "frank",
        "--key-type",
        "ecdsa",
        "--clusterrole",
        "no-such-role",
        *live_cluster.ca_args,
    )
    assert result.returncode == 2 and 'ClusterRole "no-such-role" does not exist' in result.stderr
    assert not Path("clients").exists()


def test_inspect_and_list_show_bindings(live_cluster, isolated):
    create(live_cluster, "gina", "dev", "--key-type", "ecdsa", "--clusterrole", "view")
    inspected = json.loads(run_cli("inspect", "gina", "-o", "json").stdout)["status"]
    assert [b["name"] for b in inspected["bindings"]] == ["usercert:gina:view"]
    [row] = json.loads(run_cli("list", "-o", "json").stdout)["items"]
    assert row["status"]["bindings"] == inspected["bindings"]  # the same shape everywhere


def test_verify_ok_and_create_verify(live_cluster, isolated):
    result = create(live_cluster, "hank", "dev", "--key-type", "ecdsa", "--verify", "-o", "json")
    assert json.loads(result.stdout)["status"]["verification"]["ok"] is True
    verified = run_cli("verify", "hank", "-o", "json")
    assert verified.returncode == 0, verified.stderr
    record = json.loads(verified.stdout)["status"]
    assert record["reported"] == {"user": "hank", "groups": ["dev", "system:authenticated"]}
    assert "verified" in verified.stderr


def test_verify_explains_a_401(live_cluster, tmp_path):
    other = pki.make_ca(tmp_path / "other", "server-ca-by-mistake")
    run_cli(
        "create",
        "ivy",
        "--key-type",
        "ecdsa",
        "--ca-cert",
        other.cert_path,
        "--ca-key",
        other.key_path,
    )
    result = run_cli("verify", "ivy")
    assert result.returncode == 1
    assert "401 Unauthorized" in result.stderr and "client-ca" in result.stderr


def test_verify_reports_groups_the_cluster_sees_differently(live_cluster, monkeypatch):
    create(live_cluster, "jo", "dev", "--key-type", "ecdsa")
    original = live_cluster.server.review

    def webhook_adds_a_group(rt, user, body):
        answer = original(rt, user, body)
        if rt.resource == "selfsubjectreviews":
            answer["status"]["userInfo"]["groups"] = ["admins", "system:authenticated"]
        return answer

    monkeypatch.setattr(live_cluster.server, "review", webhook_adds_a_group)
    result = run_cli("verify", "jo", "-o", "json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["status"]["problems"]
    assert any("not seen by the cluster: dev" in p for p in problems)
    assert any("does not hold: admins" in p for p in problems)


def test_verify_falls_back_without_selfsubjectreview(live_cluster):
    create(live_cluster, "kim", "--key-type", "ecdsa")
    store = live_cluster.server.store
    for version in ("v1", "v1beta1", "v1alpha1"):
        store.types.pop(("authentication.k8s.io", version, "selfsubjectreviews"), None)
    result = run_cli("verify", "kim", "-o", "json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)["status"]
    assert record["method"] == "discovery" and record["accepted"] is True
    assert "could not be checked" in record["notes"][0]


def test_verify_unreachable_cluster_is_a_clear_error_within_timeout(live_cluster, isolated):
    create(
        live_cluster, "lee", "--key-type", "ecdsa", "--server", "https://127.0.0.1:9"
    )  # nothing listens
    result = run_cli("verify", "lee", "--timeout", "5s")
    assert result.returncode == 1
    assert result.stderr.startswith("⠋") is False
    assert "could not ask the cluster" in result.stderr and "hint:" in result.stderr


def test_renewed_kubeconfig_still_authenticates(live_cluster, isolated):
    create(live_cluster, "max", "dev", "--key-type", "ecdsa")
    renewed = run_cli("renew", "max", "-g", "ops", *live_cluster.ca_args)
    assert renewed.returncode == 0, renewed.stderr
    assert whoami(live_cluster, "max")["groups"] == ["ops", "system:authenticated"]


def test_plugin_list_and_create_through_kubectl(live_cluster, isolated, tmp_path):
    bin_dir = tmp_path / "plugins"
    bin_dir.mkdir()
    (bin_dir / "kubectl-usercert").symlink_to(LAUNCHER)
    # The launcher runs on `#!/usr/bin/env python3`: make that python3 this one, which has the
    # dependencies, whatever python3 the machine has (a wrapper, so a virtualenv stays one).
    import sys

    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    listed = subprocess.run(["kubectl", "plugin", "list"], capture_output=True, text=True, env=env)
    assert str(bin_dir / "kubectl-usercert") in listed.stdout
    made = subprocess.run(
        [
            "kubectl",
            "usercert",
            "create",
            "nina",
            "dev",
            "--key-type",
            "ecdsa",
            *live_cluster.ca_args,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert whoami(live_cluster, "nina")["username"] == "nina"
