"""`approve` with the person's own `renew --self` (two homes, real kubectl, the test API server):
the admin signs bob's request with --self-renew, bob renews himself, `approve` approves it (his
request is filed with his latest certificate) and records it, and `whois` finds the new credential
id in the ledger."""

import json

from person_homes import admin_machine, bob_signed, person_machine

CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")


def test_renew_self_is_approved_by_approve_and_recorded(live_cluster, tmp_path, isolated):
    cluster = live_cluster
    cluster.server.sign_csrs_with(cluster.client_ca.cert, cluster.client_ca.key)
    admin, person = admin_machine(isolated), person_machine(tmp_path / "person")
    bob_signed(admin, person, "--expiration", "2h", "--self-renew", *cluster.ca_args)
    assert person.cli("import", "kubeconfig", "--set-current").returncode == 0

    renewing = person.start("renew", "--self", "--wait", "90s", "-o", "json")
    cluster.server.wait_for(lambda: cluster.server.list(*CSR), what="bob's request")
    approved = admin.cli("approve", "-o", "json")
    assert approved.returncode == 0, approved.stderr
    out, err = renewing.communicate(timeout=120)
    assert renewing.returncode == 0, err
    [decision] = json.loads(approved.stdout)["status"]["requests"]
    assert (decision["user"], decision["action"], decision["done"]) == ("bob", "approve", True)
    new_id = json.loads(out)["status"]["credentialID"]
    assert person.whoami(extra=True)["extra"]["authentication.kubernetes.io/credential-id"] == [
        new_id
    ]
    # Recorded by this run, or (if the signer was slower than the wait) by the next one.
    recorded = (
        json.loads(approved.stdout)["status"]["recorded"]
        or json.loads(admin.cli("approve", "-o", "json").stdout)["status"]["recorded"]
    )
    assert [r["credentialID"] for r in recorded] == [new_id]
    found = json.loads(admin.cli("whois", new_id, "-o", "json").stdout)["status"]["matches"]
    assert [(m["user"], m["event"]) for m in found] == [("bob", "renewed")]
    listed = json.loads(admin.cli("list", "-o", "json").stdout)["items"]
    assert [i["status"]["serial"] for i in listed] == [recorded[0]["serial"]]
