"""The key never leaves its owner: `request` on the person's machine, `sign` on the admin's, `import`
back, and `renew --self`, end to end with two homes (separate HOME, XDG_DATA_HOME and KUBECONFIG)
against the test API server with real kubectl, with the local CA and with the CSR API, and with
every openssl on PATH (LibreSSL included)."""

import base64
import json
import shutil

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

import schema
from person_homes import (
    admin_machine,
    bob_signed,
    files_holding,
    key_forms,
    other_entries,
    person_keys,
    person_machine,
)

CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")


def grant(cluster, user, *rules):
    """A ClusterRole and its binding for `user`, seeded as an admin would apply them."""
    cluster.server.seed(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"grant-{user}"},
            "rules": list(rules),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"grant-{user}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"grant-{user}",
            },
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
        },
    )


def self_renewal_rules(name):
    csrs = {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"]}
    return [dict(csrs, verbs=["create"]), dict(csrs, verbs=["get", "delete"], resourceNames=[name])]


def approve_when_filed(cluster, admin, process):
    """Wait for the person's request in the server (while `process`, the person's run, lives) and
    approve it as the admin; the request as it was filed."""
    filed = lambda: next(iter(cluster.server.list(*CSR)), None)  # noqa: E731
    for _ in range(120):  # (the server wakes the wait at each request; a run that died makes none)
        assert process.poll() is None, process.communicate()
        try:
            csr = cluster.server.wait_for(filed, timeout=1, what="a request")
            break
        except TimeoutError:
            continue
    approved = admin.kubectl("certificate", "approve", csr["metadata"]["name"])
    assert approved.returncode == 0, approved.stderr
    return csr


@pytest.fixture
def machines(live_cluster, tmp_path, isolated):
    live_cluster.server.sign_csrs_with(live_cluster.client_ca.cert, live_cluster.client_ca.key)
    return admin_machine(isolated), person_machine(tmp_path / "person")


@pytest.mark.parametrize("signer", ["local", "csr"])
def test_the_round_trip_keeps_the_key_with_its_owner(
    live_cluster, machines, openssl_flavour, signer
):
    admin, person = machines
    before = person.config()

    # The person: a key in their store, bob.csr for the admin.
    asked = person.cli("request", "bob", "dev", "-g", "ops", "--key-type", "ecdsa", "-o", "json")
    assert asked.returncode == 0, asked.stderr
    requested = json.loads(asked.stdout)
    schema.check(requested)
    assert (
        requested["status"]["signCommand"]
        == "kubectl usercert sign --csr bob.csr --user bob -g dev -g ops"
    )
    [key_file] = person_keys(person)
    assert key_file.name == requested["status"]["keyFingerprintSHA256"] + ".key"
    assert (
        key_file.stat().st_mode & 0o777 == 0o600
        and (person.store / "keys").stat().st_mode & 0o777 == 0o700
    )
    forms = key_forms(key_file)
    assert not files_holding([person.work], forms), "the request holds no key"
    shutil.copy(person.work / "bob.csr", admin.work / "bob.csr")  # all that travels to the admin

    # The admin signs it, with access in the same command.
    signer_args = live_cluster.ca_args if signer == "local" else ["--signer", "csr", "--approve"]
    signed = admin.cli(
        "sign",
        "--csr",
        "bob.csr",
        "--user",
        "bob",
        "-g",
        "dev",
        "-g",
        "ops",
        "--clusterrole",
        "view",
        *signer_args,
        "-o",
        "json",
    )
    assert signed.returncode == 0, signed.stderr
    bundle = json.loads(signed.stdout)["status"]
    assert bundle["key"] is None and [b["name"] for b in bundle["bindings"]] == [
        "usercert:bob:view"
    ]
    assert "client-key" not in (admin.work / bundle["kubeconfig"]).read_text()
    shutil.copy(admin.work / bundle["kubeconfig"], person.work / "kubeconfig")  # and back

    # The person takes it in.
    imported = person.cli("import", "kubeconfig", "--set-current", "--verify", "-o", "json")
    assert imported.returncode == 0, imported.stderr
    status = json.loads(imported.stdout)["status"]
    schema.check(json.loads(imported.stdout))
    assert status["context"] == "bob@test-cluster" and status["verifications"][0]["ok"] is True
    assert person.whoami() == {"username": "bob", "groups": ["dev", "ops", "system:authenticated"]}
    after = person.config()
    assert other_entries(after, {"bob@test-cluster", "test-cluster"}) == other_entries(
        before, set()
    )
    assert after["current-context"] == "bob@test-cluster"
    assert (person.home / ".kube" / "config").stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(
        base64.b64decode(
            next(u for u in after["users"] if u["name"] == "bob@test-cluster")["user"][
                "client-certificate-data"
            ]
        )
    )
    assert status["credentialID"] == "X509SHA256=" + cert.fingerprint(hashes.SHA256()).hex()

    # Nothing of the person's key anywhere on the admin's side.
    assert files_holding([admin.home, admin.work], forms) == []

    # The admin sees it as owner-held, and leaves its renewal to its owner.
    listed = json.loads(admin.cli("list", "-o", "json").stdout)["items"]
    assert [(i["metadata"]["name"], i["status"]["keyHeldBy"]) for i in listed] == [("bob", "owner")]
    assert "KEY HELD BY" in admin.cli("list").stdout
    inspected = json.loads(admin.cli("inspect", "bob", "-o", "json").stdout)
    assert inspected["status"]["keyHeldBy"] == "owner"
    refused = admin.cli("renew", "bob", *live_cluster.ca_args)
    assert (
        refused.returncode == 2 and "renew --self" in refused.stderr and "hint:" in refused.stderr
    )


def test_renew_self_through_the_csr_api(live_cluster, machines, openssl_flavour):
    admin, person = machines
    _issued(live_cluster, admin, person)
    grant(live_cluster, "bob", *self_renewal_rules(_renewal_name("bob")))
    old = person.whoami("--context", "bob@test-cluster")
    before = person.config()
    [old_key] = person_keys(person)
    old_credential = _extra_id(person)

    renewing = person.start(
        "renew", "--self", "--context", "bob@test-cluster", "--wait", "90s", "-o", "json"
    )
    csr = approve_when_filed(live_cluster, admin, renewing)
    out, err = renewing.communicate(timeout=120)
    assert renewing.returncode == 0, err

    # Filed as the person themselves, under the one name their renewals use, labelled.
    assert csr["metadata"]["name"] == _renewal_name("bob")
    assert csr["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "kubectl-usercert",
        "usercert.kubectl.io/purpose": "self-renewal",
    }
    assert csr["spec"]["username"] == "bob"
    assert f"kubectl certificate approve {_renewal_name('bob')}" in err
    renewed = json.loads(out)
    schema.check(renewed)
    assert renewed["status"]["previousSerial"] and renewed["status"]["request"] == _renewal_name(
        "bob"
    )
    # A new key, the old one gone, the other contexts as they were, the cluster sees the same person.
    [new_key] = person_keys(person)
    assert new_key != old_key
    assert person.whoami("--context", "bob@test-cluster") == old
    assert _extra_id(person) != old_credential
    assert other_entries(person.config(), {"bob@test-cluster"}) == other_entries(
        before, {"bob@test-cluster"}
    )
    assert not (person.store / "credentials" / "bob@test-cluster" / "previous").exists()
    assert files_holding([admin.home, admin.work], key_forms(new_key)) == []
    assert live_cluster.server.list(*CSR) == []


def test_renew_self_without_the_right_says_what_to_grant(live_cluster, machines):
    admin, person = machines
    _issued(live_cluster, admin, person)
    result = person.cli("renew", "--self", "--context", "bob@test-cluster")
    assert result.returncode == 1
    [line, hint] = [
        line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))
    ]
    assert "create on certificatesigningrequests" in line and _renewal_name("bob") in line
    assert len(person_keys(person)) == 1 and live_cluster.server.list(*CSR) == []


def test_request_submit_files_it_as_the_person_and_imports_it(
    live_cluster, machines, openssl_flavour
):
    """A person who already has some access (here an expiring certificate for bob, allowed to file
    and read requests) files their own request, which the admin approves, and gets a context."""
    admin, person = machines
    may_file_requests(live_cluster, person)
    before = person.config()

    submitting = person.start(
        "request",
        "bob",
        "dev",
        "--key-type",
        "ecdsa",
        "--submit",
        "--context",
        "bootstrap",
        "--set-current",
        "--expiration",
        "2h",
        "--wait",
        "90s",
        "-o",
        "json",
    )
    csr = approve_when_filed(live_cluster, admin, submitting)
    out, err = submitting.communicate(timeout=120)
    assert submitting.returncode == 0, err
    assert csr["spec"]["username"] == "bob" and csr["spec"]["expirationSeconds"] == 7200
    requested = json.loads(out)
    schema.check(requested)
    assert requested["status"]["credential"]["status"]["context"] == "bob@test"
    assert person.whoami() == {"username": "bob", "groups": ["dev", "system:authenticated"]}
    after = person.config()
    assert after["current-context"] == "bob@test"
    assert other_entries(after, {"bob@test"}) == other_entries(before, set())  # cluster reused
    assert not (person.work / "bob.csr").exists()
    assert files_holding([admin.home, admin.work], key_forms(person_keys(person)[0])) == []


def may_file_requests(cluster, person):
    """bob, in group dev, may file and read certificate signing requests, through a `bootstrap`
    context of the person's kubeconfig (a certificate of his that works already)."""
    csrs = {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"]}
    grant(cluster, "bob", dict(csrs, verbs=["create", "get"]))
    _add_context(person, "bootstrap", cluster.credentials("bob", ["dev"]))


def _add_context(person, name, kubeconfig):
    """The person's kubeconfig gains the cluster and user of `kubeconfig` (a context `name`)."""
    import yaml

    own = yaml.safe_load((person.home / ".kube" / "config").read_text())
    theirs = json.loads(kubeconfig.read_text())
    own["clusters"].append(theirs["clusters"][0])
    own["users"].append({"name": name, "user": theirs["users"][0]["user"]})
    own["contexts"].append(
        {"name": name, "context": {"cluster": theirs["clusters"][0]["name"], "user": name}}
    )
    (person.home / ".kube" / "config").write_text(yaml.safe_dump(own))


def _renewal_name(user):
    from kubectl_usercert.pki.signers.cluster_csr import self_renewal_name

    return self_renewal_name(user)


def _extra_id(person):
    info = person.whoami("--context", "bob@test-cluster", extra=True)
    return info["extra"]["authentication.kubernetes.io/credential-id"]


def _issued(cluster, admin, person):
    """bob's credential, requested, signed by the local CA and imported."""
    bob_signed(admin, person, "--expiration", "2h", *cluster.ca_args, bundle="bob.kubeconfig")
    imported = person.cli("import", "bob.kubeconfig")
    assert imported.returncode == 0, imported.stderr
