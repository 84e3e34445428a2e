"""`kubectl usercert approve`, end to end against the test API server with real kubectl: the
requests people file as themselves (their own certificates, so the server writes spec.username,
groups and the credential id as kube-apiserver does), the good self-renewal approved, issued and
recorded (whois finds it), every bad one denied with a reason and a message, the rest left alone."""

import base64
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import schema
from conftest import default_kubectl
from helpers import EC, LAUNCHER, ca_args, cli_json, ledger_lines, run_cli
from kubectl_usercert.pki.signers.cluster_csr import self_renewal_name
from pending_renewals import counting_kubectl, seed_renewals

CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")
CLIENT = ["client auth", "digital signature"]
OLD_KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.31"


def request_pem(cn, groups=(), san=None):
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name(names + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def manifest(name, pem, expiration=3600, usages=CLIENT, labelled=True):
    spec = {
        "request": base64.b64encode(pem).decode(),
        "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": list(usages),
    }
    if expiration is not None:
        spec["expirationSeconds"] = expiration
    labels = {"usercert.kubectl.io/purpose": "self-renewal"} if labelled else {}
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def file_as(cluster, kubeconfig, obj):
    done = cluster.kubectl(kubeconfig, "create", "-f", "-", stdin=json.dumps(obj))
    assert done.returncode == 0, done.stderr


def issue(cluster, user, *groups, self_renew=True, lifetime="2h"):
    args = ["create", user, *groups, *EC, *ca_args(cluster.client_ca), "--expiration", lifetime]
    result = run_cli(*args, *(["--self-renew"] if self_renew else []))
    assert result.returncode == 0, result.stderr
    return f"clients/{user}/kubeconfig"


def conditions(cluster, name):
    csr = cluster.server.get(*CSR, name)
    return [(c["type"], c.get("reason"), c.get("message", "")) for c in csr["status"]["conditions"]]


@pytest.fixture
def signing(live_cluster):
    live_cluster.server.sign_csrs_with(live_cluster.client_ca.cert, live_cluster.client_ca.key)
    return live_cluster


def test_approve_approves_the_good_denies_the_bad_and_records_the_renewal(signing, tmp_path):
    cluster = signing
    bob = issue(cluster, "bob", "dev")
    old_bob = tmp_path / "bob-old.kubeconfig"
    old_bob.write_text(open(bob).read())
    for user in ("alice", "erin", "frank", "gina", "hank", "ivan"):
        issue(cluster, user, "dev")
    kubeconfig = {u: f"clients/{u}/kubeconfig" for u in ("alice", "erin", "frank", "gina", "hank")}
    # ivan keeps a right to file requests that is not this tool's, and is revoked
    cluster.server.seed(*_grant_create("ivan"))
    ivan = tmp_path / "ivan.kubeconfig"
    ivan.write_text(open("clients/ivan/kubeconfig").read())
    assert run_cli("revoke", "ivan").returncode == 0

    renew = self_renewal_name
    file_as(cluster, bob, manifest(renew("bob"), request_pem("bob", ["dev"])))
    file_as(cluster, kubeconfig["alice"], manifest(renew("dave"), request_pem("dave", ["dev"])))
    file_as(
        cluster, kubeconfig["erin"], manifest(renew("erin"), request_pem("erin", ["dev", "admins"]))
    )
    file_as(
        cluster, kubeconfig["frank"], manifest(renew("frank"), request_pem("frank", ["dev"]), None)
    )
    file_as(
        cluster, kubeconfig["gina"], manifest(renew("gina"), request_pem("gina", ["dev"]), 3 * 3600)
    )
    file_as(
        cluster,
        kubeconfig["hank"],
        manifest(renew("hank"), request_pem("hank", ["dev"], san="evil.example")),
    )
    file_as(cluster, ivan, manifest(renew("ivan"), request_pem("ivan", ["dev"])))
    file_as(
        cluster, kubeconfig["alice"], manifest("alice-other", request_pem("alice"), labelled=False)
    )

    answer = cli_json("approve")
    schema.check(answer)
    by_name = {r["name"]: r for r in answer["status"]["requests"]}
    assert {n: (r["action"], r["reason"]) for n, r in by_name.items()} == {
        renew("bob"): ("approve", "UsercertSelfRenewal"),
        renew("dave"): ("deny", "RequesterIsNotSubject"),
        renew("erin"): ("deny", "GroupsDiffer"),
        renew("frank"): ("deny", "ExpirationMissing"),
        renew("gina"): ("deny", "ExpirationTooLong"),
        renew("hank"): ("deny", "SubjectAltNames"),
        renew("ivan"): ("deny", "UserRevoked"),
        "alice-other": ("leave", "NotASelfRenewal"),
    }
    assert all(r["done"] is True for r in by_name.values() if r["action"] != "leave")
    # The cluster holds each decision with its reason and message.
    assert conditions(cluster, renew("erin")) == [
        ("Denied", "GroupsDiffer", by_name[renew("erin")]["message"])
    ]
    assert "adds admins" in by_name[renew("erin")]["message"]
    assert "filed by alice" in by_name[renew("dave")]["message"]
    assert cluster.server.get(*CSR, "alice-other")["status"].get("conditions") in (None, [])
    assert conditions(cluster, renew("bob"))[0][:2] == ("Approved", "UsercertSelfRenewal")

    # The renewal is issued and recorded; whois finds its credential id.
    [recorded] = answer["status"]["recorded"]
    issued = x509.load_pem_x509_certificate(
        base64.b64decode(cluster.server.get(*CSR, renew("bob"))["status"]["certificate"])
    )
    assert recorded["credentialID"] == "X509SHA256=" + issued.fingerprint(hashes.SHA256()).hex()
    last = ledger_lines()[-1]
    assert (last["event"], last["user"], last["groups"], last["selfRenew"], last["keyHeldBy"]) == (
        "renewed",
        "bob",
        ["dev"],
        True,
        "owner",
    )
    found = cli_json("whois", recorded["credentialID"])
    assert [(m["user"], m["event"]) for m in found["status"]["matches"]] == [("bob", "renewed")]
    before = len(ledger_lines())
    again = cli_json("approve")  # nothing pending, nothing recorded twice
    assert again["status"]["recorded"] == [] and len(ledger_lines()) == before

    # bob's older certificate (no longer the latest in the ledger) cannot renew.
    cluster.admin("delete", "csr", renew("bob"))
    file_as(cluster, old_bob, manifest(renew("bob"), request_pem("bob", ["dev"])))
    stale = {r["name"]: r for r in cli_json("approve")["status"]["requests"]}
    assert (stale[renew("bob")]["action"], stale[renew("bob")]["reason"]) == (
        "deny",
        "NotTheLatestCertificate",
    )


def _grant_create(user):
    rule = {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["certificatesigningrequests"],
        "verbs": ["create"],
    }
    name = f"others-grant-{user}"
    return (
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [rule],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    )


def test_the_right_to_self_renew_is_the_least_and_revoke_takes_it_away(signing, tmp_path):
    cluster = signing
    bob = tmp_path / "bob.kubeconfig"  # his copy: revoke archives the admin's
    bob.write_text(open(issue(cluster, "bob", "dev")).read())
    assert ledger_lines()[-1]["selfRenew"] is True
    issue(cluster, "carol", self_renew=False)  # no right unless asked
    assert "selfRenew" not in ledger_lines()[-1]
    mine, other = self_renewal_name("bob"), self_renewal_name("carol")
    as_bob = lambda *a: cluster.kubectl(bob, *a)  # noqa: E731

    # bob may file any request (RBAC cannot narrow create), read and withdraw only his own.
    file_as(cluster, bob, manifest(mine, request_pem("bob", ["dev"])))
    file_as(cluster, bob, manifest(other, request_pem("carol")))
    assert as_bob("get", "csr", mine, "-o", "name").returncode == 0
    assert "forbidden" in as_bob("get", "csr", other).stderr
    assert "forbidden" in as_bob("get", "csr").stderr
    assert "forbidden" in as_bob("delete", "csr", other).stderr
    assert "forbidden" in as_bob("certificate", "approve", mine).stderr
    roles = cluster.admin("get", "clusterrole,clusterrolebinding", "-o", "name").stdout.split()
    assert "clusterrole.rbac.authorization.k8s.io/usercert:self-renew:bob" in roles
    assert "clusterrolebinding.rbac.authorization.k8s.io/usercert:self-renew:bob" in roles

    # revoke takes the right away and withdraws his pending renewal.
    revoked = run_cli("revoke", "bob")
    assert revoked.returncode == 0, revoked.stderr
    roles = cluster.admin("get", "clusterrole,clusterrolebinding", "-o", "name").stdout.split()
    assert not [r for r in roles if "self-renew:bob" in r]
    assert [c["metadata"]["name"] for c in cluster.server.list(*CSR)] == [other]
    refused = cluster.kubectl(
        bob, "create", "-f", "-", stdin=json.dumps(manifest(mine, request_pem("bob", ["dev"])))
    )
    assert refused.returncode != 0 and "forbidden" in refused.stderr


def test_approve_watch_approves_as_requests_arrive_and_ends_cleanly_on_sigterm(signing):
    cluster = signing
    bob = issue(cluster, "bob", "dev")
    alice = issue(cluster, "alice", "dev")
    watching = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "approve", "--watch", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        cluster.server.wait_for(lambda: cluster.server.open_watches == 1, what="the watch")
        file_as(cluster, bob, manifest(self_renewal_name("bob"), request_pem("bob", ["dev"])))
        file_as(cluster, alice, manifest(self_renewal_name("carol"), request_pem("carol")))
        issued = cluster.server.wait_for(
            lambda: (cluster.server.get(*CSR, self_renewal_name("bob"))["status"]).get(
                "certificate"
            ),
            what="bob's renewal issued",
        )
        cluster.server.wait_for(
            lambda: cluster.server.get(*CSR, self_renewal_name("carol"))["status"].get(
                "conditions"
            ),
            what="the denial",
        )
        fingerprint = x509.load_pem_x509_certificate(base64.b64decode(issued)).fingerprint(
            hashes.SHA256()
        )
        wait_until(
            lambda: any(line.get("event") == "renewed" for line in ledger_lines()), "the record"
        )
    finally:
        watching.send_signal(signal.SIGTERM)
        out, err = watching.communicate(timeout=60)
    assert watching.returncode == 0, err
    assert "Stopped watching (SIGTERM)" in err and "Traceback" not in err
    assert conditions(cluster, self_renewal_name("carol"))[0][:2] == (
        "Denied",
        "RequesterIsNotSubject",
    )
    assert ledger_lines()[-1]["fingerprintSHA256"].replace(":", "").lower() == fingerprint.hex()
    batches = list(json_stream(out))
    for batch in batches:
        schema.check(batch)
    assert {r["user"] for b in batches for r in b["status"]["recorded"]} == {"bob"}
    cluster.server.wait_for(lambda: cluster.server.open_watches == 0, what="kubectl to go")


def wait_until(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} after {timeout}s"
        time.sleep(0.1)


def json_stream(text):
    decoder, text = json.JSONDecoder(), text.strip()
    while text:
        value, end = decoder.raw_decode(text)
        yield value
        text = text[end:].strip()


@pytest.mark.parametrize("count", [3, 120])
def test_approve_starts_a_bounded_number_of_kubectls(signing, tmp_path, monkeypatch, count):
    """One list, one replace per batch of 50, one watch for the signer: whatever the count."""
    wrapper, log = counting_kubectl(str(tmp_path), default_kubectl())
    seed_renewals(signing.server, "clients", count)
    monkeypatch.setenv("USERCERT_KUBECTL", wrapper)
    answer = cli_json("approve")
    assert [r["action"] for r in answer["status"]["requests"]] == ["approve"] * count
    assert len(answer["status"]["recorded"]) == count
    runs = open(log).read().splitlines()
    batches = -(-count // 50)
    assert len(runs) == 1 + batches + 1, runs  # get, replace per batch, get --watch


def test_apply_grants_self_renew_and_approves_its_users_renewals(signing, tmp_path):
    cluster = signing
    roster = Path("team.yaml")
    team = """apiVersion: usercert.kubectl.io/v1alpha1
kind: UserRoster
metadata: {name: team}
spec:
  defaults: {keyType: ecdsa, expiration: 2h}
  users:
  - {name: bob, groups: [dev], selfRenew: %s}
  - {name: carol, groups: [dev]}
"""
    roster.write_text(team % "true")
    first = run_cli("apply", "-f", roster, *ca_args(cluster.client_ca))
    assert first.returncode == 0, first.stderr
    records = {line["user"]: line for line in ledger_lines()}
    assert records["bob"].get("selfRenew") is True and "selfRenew" not in records["carol"]
    roles = cluster.admin("get", "clusterrolebinding", "-o", "name").stdout.split()
    assert [r for r in roles if "self-renew" in r] == [
        "clusterrolebinding.rbac.authorization.k8s.io/usercert:self-renew:bob"
    ]

    # bob files his renewal; the next apply approves it (and only the roster's users' requests).
    bob = tmp_path / "bob.kubeconfig"
    bob.write_text(Path("clients/bob/kubeconfig").read_text())
    file_as(cluster, bob, manifest(self_renewal_name("bob"), request_pem("bob", ["dev"])))
    file_as(cluster, bob, manifest("not-a-renewal", request_pem("bob"), labelled=False))
    second = run_cli("apply", "-f", roster, *ca_args(cluster.client_ca), "-o", "json")
    assert second.returncode == 0, second.stderr
    plan = json.loads(second.stdout)
    schema.check(plan)
    approvals = plan["status"]["approvals"]["status"]
    assert [(r["name"], r["action"]) for r in approvals["requests"]] == [
        (self_renewal_name("bob"), "approve")
    ]
    assert [r["user"] for r in approvals["recorded"]] == ["bob"]
    assert ledger_lines()[-1]["event"] == "renewed" and ledger_lines()[-1]["selfRenew"] is True

    # Taking the right away in the roster: the binding goes. (bob's key is his own now: the
    # admin does not renew him; carol, granted it, is renewed so that her newest record says so.)
    roster.write_text(
        (team % "false").replace("groups: [dev]}\n", "groups: [dev], selfRenew: true}\n")
    )
    third = run_cli("apply", "-f", roster, *ca_args(cluster.client_ca), "-o", "json")
    assert third.returncode == 0, third.stderr
    plans = {u["name"]: u for u in json.loads(third.stdout)["status"]["users"]}
    assert plans["bob"]["actions"] == ["rebind"] and "renew --self" in plans["bob"]["notes"][0]
    assert plans["carol"]["actions"] == ["renew", "rebind"]
    assert "selfRenew granted" in plans["carol"]["reasons"]
    roles = cluster.admin("get", "clusterrolebinding", "-o", "name").stdout.split()
    assert [r for r in roles if "self-renew" in r] == [
        "clusterrolebinding.rbac.authorization.k8s.io/usercert:self-renew:carol"
    ]
    assert [line for line in ledger_lines() if line["user"] == "carol"][-1]["selfRenew"] is True


def test_a_request_replaced_after_it_was_checked_is_never_approved(signing, tmp_path, monkeypatch):
    """bob files a good request; between approve's list and its decision he withdraws it and files
    one for another group under the same name. The decision carries the resourceVersion it checked:
    the cluster refuses it (a conflict), and the new request stays pending."""
    cluster = signing
    bob = issue(cluster, "bob", "dev")
    name = self_renewal_name("bob")
    file_as(cluster, bob, manifest(name, request_pem("bob", ["dev"])))
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps(manifest(name, request_pem("bob", ["dev", "admins"]))))
    real = default_kubectl()
    wrapper = tmp_path / "kubectl"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" replace "*)\n'
        f'  "{real}" --kubeconfig "{bob}" delete csr {name} >/dev/null\n'
        f'  "{real}" --kubeconfig "{bob}" create -f "{swapped}" >/dev/null ;;\n'
        "esac\n"
        f'exec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("USERCERT_KUBECTL", str(wrapper))
    result = run_cli("approve", "-o", "json")
    assert result.returncode == 1, result.stderr
    [outcome] = json.loads(result.stdout)["status"]["requests"]
    assert (outcome["action"], outcome["done"]) == ("approve", False)
    assert "Conflict" in outcome["error"] or "modified" in outcome["error"]
    assert f"could not approve {name}" in result.stderr
    now = cluster.server.get(*CSR, name)
    assert not now["status"].get("conditions") and not now["status"].get("certificate")
    monkeypatch.delenv("USERCERT_KUBECTL")
    again = cli_json("approve")["status"]["requests"]
    assert [(r["action"], r["reason"]) for r in again] == [("deny", "GroupsDiffer")]


@pytest.mark.skipif(not Path(OLD_KUBECTL).exists(), reason="no kubectl 1.31 here")
def test_with_a_kubectl_before_1_32_each_decision_is_its_own_put(signing, monkeypatch):
    """kubectl before 1.32 refuses replace --subresource=approval: each decision is then one
    kubectl replace --raw .../approval, with the same checks and the same conflict safety."""
    cluster = signing
    bob, alice = issue(cluster, "bob", "dev"), issue(cluster, "alice", "dev")
    file_as(cluster, bob, manifest(self_renewal_name("bob"), request_pem("bob", ["dev"])))
    file_as(cluster, alice, manifest(self_renewal_name("erin"), request_pem("erin", ["dev"])))
    monkeypatch.setenv("USERCERT_KUBECTL", OLD_KUBECTL)
    answer = cli_json("approve")
    assert {(r["user"], r["action"], r["done"]) for r in answer["status"]["requests"]} == {
        ("bob", "approve", True),
        ("erin", "deny", True),
    }
    assert conditions(cluster, self_renewal_name("erin"))[0][:2] == (
        "Denied",
        "RequesterIsNotSubject",
    )
    assert [r["user"] for r in answer["status"]["recorded"]] == ["bob"]


def test_self_renew_is_refused_on_a_fleet_roster(isolated):
    Path("fleet.yaml").write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: f}\n"
        "spec:\n  clusters: [{context: prod}]\n  users:\n  - {name: bob, selfRenew: true}\n"
    )
    result = run_cli("apply", "-f", "fleet.yaml")
    assert result.returncode == 2 and "spec.clusters" in result.stderr, result.stderr
