"""The person's side across several clusters (issue 22.5): one `request`, signed by the admin for
several contexts into one bundle (`sign --csr FILE --user U --context A --context B`), one `import`
adding every context, and `renew --self` renewing each; end to end with two homes against two test
API servers with CAs of their own (prod split like k3s), real kubectl, cryptography as the oracle."""

import base64
import json
import shutil

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import schema
from helpers import ClusterSpec, ledger_lines, run_cli
from person_homes import (
    admin_machine,
    files_holding,
    key_forms,
    other_entries,
    person_keys,
    person_machine,
)
from test_person_round_trip import grant, self_renewal_rules

CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")
CONTEXTS = ("bob@prod", "bob@staging")


def spki(cert):
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certificates(config):
    """{context: its user's certificate} of a kubeconfig (as kubectl config view --raw shows it)."""
    users = {u["name"]: u["user"] for u in config["users"]}
    return {
        c["name"]: x509.load_pem_x509_certificate(
            base64.b64decode(users[c["context"]["user"]]["client-certificate-data"])
        )
        for c in config["contexts"]
        if c["name"] in CONTEXTS
    }


@pytest.fixture
def sides(make_fleet, tmp_path, isolated):
    fleet = make_fleet(ClusterSpec("prod"), ClusterSpec("staging", split_ca=False))
    return fleet, admin_machine(isolated), person_machine(tmp_path / "person")


def signed_for_both(fleet, admin, person):
    """bob's request, signed by prod's CA (its files) and staging's CSR API into one bundle, with a
    view binding on each; the bundle imported. The sign's and the import's -o json."""
    prod, staging = fleet
    asked = person.cli("request", "bob", "dev", "--key-type", "ecdsa")
    assert asked.returncode == 0, asked.stderr
    shutil.copy(person.work / "bob.csr", admin.work / "bob.csr")
    signed = admin.cli(
        "sign", "--csr", "bob.csr", "--user", "bob", "-g", "dev",
        "--context", "prod", "--context", "staging",
        "--ca-cert", f"prod={prod.client_ca.cert_path}", "--ca-key", f"prod={prod.client_ca.key_path}",
        "--approve", "--clusterrole", "view", "-o", "json",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    shutil.copy(admin.work / "clients/bob/kubeconfig", person.work / "kubeconfig")
    imported = person.cli("import", "kubeconfig", "--set-current", "--verify", "-o", "json")
    assert imported.returncode == 0, imported.stderr
    return json.loads(signed.stdout), json.loads(imported.stdout)


def test_one_request_signed_for_two_clusters_one_import_adds_both(sides):
    fleet, admin, person = sides
    prod, staging = fleet
    before = person.config()

    signed, imported = signed_for_both(fleet, admin, person)

    # The admin's side: one bundle, a cluster, a user and a context per cluster, no key anywhere.
    schema.check(signed)
    assert signed["kind"] == "UserCertificateList"
    assert [(i["status"]["cluster"], i["status"]["signer"]) for i in signed["items"]] == [
        ("prod", "local"),
        ("staging", "csr"),
    ]
    assert all(i["status"]["key"] is None for i in signed["items"])
    assert signed["items"][0]["status"]["ownerInstructions"][0] == (
        "kubectl usercert import kubeconfig --set-current"
    )
    bundle = yaml.safe_load((admin.work / "clients/bob/kubeconfig").read_text())
    assert [c["name"] for c in bundle["contexts"]] == list(CONTEXTS)
    assert all(set(u["user"]) == {"client-certificate-data"} for u in bundle["users"])
    [key_file] = person_keys(person)
    assert files_holding([admin.home, admin.work], key_forms(key_file)) == []
    lines = ledger_lines(str(admin.work / "clients"))
    assert [(line["cluster"], line.get("keyHeldBy")) for line in lines] == [
        ("prod", "owner"),
        ("staging", "owner"),
    ]

    # The person's side: both contexts added at once, each its own cluster's, one key in both.
    schema.check(imported)
    assert [c["context"] for c in imported["status"]["credentials"]] == list(CONTEXTS)
    assert all(v["ok"] for v in imported["status"]["verifications"])
    after = person.config()
    certs = certificates(after)
    certs["bob@prod"].verify_directly_issued_by(prod.client_ca.cert)
    certs["bob@staging"].verify_directly_issued_by(staging.client_ca.cert)
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert {spki(c) for c in certs.values()} == {
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    }
    for context in CONTEXTS:
        assert person.whoami("--context", context) == {
            "username": "bob",
            "groups": ["dev", "system:authenticated"],
        }
    assert other_entries(after, {*CONTEXTS, "prod", "staging"}) == other_entries(before, set())
    for cluster in fleet:  # each context reached its own server, and bob is bound on each
        answer = cluster.admin("get", "clusterrolebinding", "usercert:bob:view", "-o", "name")
        assert answer.returncode == 0, answer.stderr

    # Owner-held on every cluster: the admin's renew leaves it to its owner.
    refused = admin.cli("renew", "bob")
    assert refused.returncode == 2 and "renew --self" in refused.stderr
    unverifiable = admin.cli("verify", "bob")
    assert unverifiable.returncode == 2 and "held by its owner" in unverifiable.stderr
    listed = json.loads(admin.cli("list", "-o", "json").stdout)["items"]
    assert sorted((i["status"]["cluster"], i["status"]["keyHeldBy"]) for i in listed) == [
        ("prod", "owner"),
        ("staging", "owner"),
    ]

    # Revoked on one cluster: its binding goes, the other stays.
    revoked = admin.cli("revoke", "bob", "--context", "staging")
    assert revoked.returncode == 0, revoked.stderr
    assert staging.admin("get", "clusterrolebinding", "usercert:bob:view").returncode != 0
    assert prod.admin("get", "clusterrolebinding", "usercert:bob:view").returncode == 0


def approve_each(fleet, process):
    """As the admin, approve the person's renewal on each cluster in turn, as it is filed."""
    for cluster in fleet:
        for _ in range(120):
            assert process.poll() is None, process.communicate()
            try:
                csr = cluster.server.wait_for(
                    lambda c=cluster: next(iter(c.server.list(*CSR)), None), timeout=1
                )
                break
            except TimeoutError:
                continue
        approved = cluster.admin("certificate", "approve", csr["metadata"]["name"])
        assert approved.returncode == 0, approved.stderr


def test_renew_self_renews_every_context_imported_together(sides):
    fleet, admin, person = sides
    signed_for_both(fleet, admin, person)
    for cluster in fleet:
        grant(cluster, "bob", *self_renewal_rules(_renewal_name("bob")))
    old = certificates(person.config())
    [old_key] = person_keys(person)

    renewing = person.start("renew", "--self", "--wait", "90s", "-o", "json")
    approve_each(fleet, renewing)
    out, err = renewing.communicate(timeout=120)

    assert renewing.returncode == 0, err
    renewed = json.loads(out)
    schema.check(renewed)
    assert [c["context"] for c in renewed["status"]["credentials"]] == list(CONTEXTS)
    new = certificates(person.config())
    for context, cluster in zip(CONTEXTS, fleet):
        assert new[context].serial_number != old[context].serial_number
        new[context].verify_directly_issued_by(cluster.client_ca.cert)
        assert person.whoami("--context", context)["username"] == "bob"
    assert old_key not in person_keys(person)  # the key they shared is gone once both moved on
    assert all(cluster.server.list(*CSR) == [] for cluster in fleet)
    assert "bob@prod: " in err and "bob@staging: " in err  # the progress names each


def _renewal_name(user):
    from kubectl_usercert.pki.signers.cluster_csr import self_renewal_name

    return self_renewal_name(user)


def test_a_cluster_that_fails_to_sign_leaves_nothing_on_either(make_fleet, tmp_path, isolated):
    """staging never signs (no signer runs there): the wait ends, prod's request (signed, and kept
    with --keep-csr) is withdrawn too, and no bundle, ledger line or binding is left anywhere."""
    fleet = make_fleet(ClusterSpec("prod"), ClusterSpec("staging", sign_csrs=False))
    admin, person = admin_machine(isolated), person_machine(tmp_path / "person")
    assert person.cli("request", "bob", "--key-type", "ecdsa").returncode == 0
    shutil.copy(person.work / "bob.csr", admin.work / "bob.csr")

    result = admin.cli(
        "sign", "--csr", "bob.csr", "--user", "bob", "--context", "prod", "--context", "staging",
        "--approve", "--keep-csr", "--wait", "2s", "--clusterrole", "view",
    )  # fmt: skip

    assert result.returncode == 1, result.stderr
    assert "error: nothing was issued for bob: staging failed" in result.stderr
    assert "prod (context prod): signed, then withdrawn" in result.stderr
    assert not (admin.work / "clients" / "bob").exists()
    assert ledger_lines(str(admin.work / "clients")) == []
    for cluster in fleet:
        assert cluster.server.list(*CSR) == []
        assert cluster.admin("get", "clusterrolebinding", "usercert:bob:view").returncode != 0


def test_one_cluster_flags_with_several_contexts_are_bad_input(isolated):
    for flag in ("--server", "--cluster"):
        result = run_cli(
            "sign", "--csr", "bob.csr", "--user", "bob", "--context", "a", "--context", "b",
            flag, "https://127.0.0.1:6443" if flag == "--server" else "c",
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines()[-2:][0] == (
            f"error: {flag} names one cluster, and there are several"
        )
