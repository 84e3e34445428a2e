"""The person's side attacked: what a hostile bundle, a second kubeconfig file, a shared folder, a
full disk or the person's own kubectl running meanwhile must not do to their kubeconfig and store."""

import json

import pytest

from person_homes import admin_machine, person_machine
from test_person_round_trip import (
    CSR,
    _add_context,
    _issued,
    _renewal_name,
    grant,
    self_renewal_rules,
)


@pytest.fixture
def machines(live_cluster, tmp_path, isolated):
    live_cluster.server.sign_csrs_with(live_cluster.client_ca.cert, live_cluster.client_ca.key)
    return admin_machine(isolated), person_machine(tmp_path / "person")


def _approved_after(cluster, admin, person, process):
    """Once `process` (the person's run) has filed its request, the person changes their kubeconfig
    with kubectl (as they may in another terminal while it waits), then the admin approves."""
    filed = lambda: next(iter(cluster.server.list(*CSR)), None)  # noqa: E731
    for _ in range(120):
        assert process.poll() is None, process.communicate()
        try:
            csr = cluster.server.wait_for(filed, timeout=1, what="a request")
            break
        except TimeoutError:
            continue
    _meanwhile(person)
    approved = admin.kubectl("certificate", "approve", csr["metadata"]["name"])
    assert approved.returncode == 0, approved.stderr


def _meanwhile(person):
    """What the person does with kubectl while a run of theirs waits for approval."""
    for args in (
        ("config", "set-context", "elsewhere", "--namespace", "changed-meanwhile"),
        ("config", "use-context", "sso@elsewhere"),
    ):
        done = person.kubectl(*args)
        assert done.returncode == 0, done.stderr


def _kept_meanwhile(config):
    contexts = {c["name"]: c["context"] for c in config["contexts"]}
    return (config["current-context"], contexts["elsewhere"].get("namespace"))


def test_renew_self_keeps_what_kubectl_changed_while_it_waited(live_cluster, machines):
    admin, person = machines
    _issued(live_cluster, admin, person)
    grant(live_cluster, "bob", *self_renewal_rules(_renewal_name("bob")))
    renewing = person.start("renew", "--self", "--context", "bob@test-cluster", "--wait", "90s")
    _approved_after(live_cluster, admin, person, renewing)
    _, err = renewing.communicate(timeout=120)
    assert renewing.returncode == 0, err
    assert _kept_meanwhile(person.config()) == ("sso@elsewhere", "changed-meanwhile")
    assert person.whoami("--context", "bob@test-cluster")["username"] == "bob"


def test_request_submit_keeps_what_kubectl_changed_while_it_waited(live_cluster, machines):
    admin, person = machines
    csrs = {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"]}
    grant(live_cluster, "bob", dict(csrs, verbs=["create", "get"]))
    _add_context(person, "bootstrap", live_cluster.credentials("bob", ["dev"]))
    submitting = person.start(
        "request",
        "bob",
        "dev",
        "--key-type",
        "ecdsa",
        "--submit",
        "--context",
        "bootstrap",
        "--expiration",
        "2h",
        "--wait",
        "90s",
        "-o",
        "json",
    )
    _approved_after(live_cluster, admin, person, submitting)
    out, err = submitting.communicate(timeout=120)
    assert submitting.returncode == 0, err
    assert json.loads(out)["status"]["credential"]["status"]["context"] == "bob@test"
    assert _kept_meanwhile(person.config()) == ("sso@elsewhere", "changed-meanwhile")
    assert person.whoami("--context", "bob@test")["username"] == "bob"
