"""A person whose certificate is about to expire keeps working through kubectl while the admin's
`approve` runs: end to end against the test API server (which fills spec.username, spec.groups
and spec.extra as kube-apiserver does), with real kubectl running the credential plugin that
`import --exec` wrote. kubectl answers at once while the renewal waits in the background; once
`approve --watch` has approved it, the next kubectl call uses a new certificate (another credential id in
the server's view), the ledger records it (whois finds it), and the kubeconfig never changed."""

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from helpers import LAUNCHER
from person_homes import admin_machine, files_holding, key_forms, person_keys, person_machine

CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@pytest.fixture
def machines(live_cluster, tmp_path, isolated):
    """The admin's machine and bob's, whose PATH has kubectl-usercert (kubectl runs the plugin)."""
    live_cluster.server.sign_csrs_with(live_cluster.client_ca.cert, live_cluster.client_ca.key)
    admin, person = admin_machine(isolated), person_machine(tmp_path / "person")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "kubectl-usercert"
    plugin.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{LAUNCHER}" "$@"\n')
    plugin.chmod(0o755)
    person.env["PATH"] = f"{bin_dir}{os.pathsep}{person.env['PATH']}"
    yield admin, person
    _stop_renewals(person)


def _stop_renewals(person):
    """A renewal the test left running in the background (its own session) is stopped."""
    for record in (person.store / "credentials").glob("*/renewal.json"):
        started = json.loads(record.read_text())
        if started.get("outcome") == "running":
            try:
                os.killpg(started["pid"], signal.SIGTERM)
            except OSError:
                pass


def credential_id(person):
    info = person.whoami(extra=True)
    return info["extra"][CREDENTIAL_ID][0]


def test_a_person_keeps_working_while_approve_renews_their_certificate(live_cluster, machines):
    admin, person = machines
    assert person.cli("request", "bob", "dev", "--key-type", "ecdsa").returncode == 0
    shutil.copy(person.work / "bob.csr", admin.work / "bob.csr")
    signed = admin.cli(
        "sign",
        "--csr",
        "bob.csr",
        "--user",
        "bob",
        "-g",
        "dev",
        "--clusterrole",
        "view",
        "--self-renew",
        "--expiration",
        "1h",
        *live_cluster.ca_args,
    )
    assert signed.returncode == 0, signed.stderr
    shutil.copy(admin.work / "clients" / "bob" / "kubeconfig", person.work / "kubeconfig")
    # 64 minutes of a certificate that lasts 65 (1h, backdated 5m): its renewal is due already
    imported = person.cli(
        "import", "kubeconfig", "--exec", "--set-current", "--renew-before", "64m", "-o", "json"
    )
    assert imported.returncode == 0, imported.stderr
    name = json.loads(imported.stdout)["status"]["context"]
    folder = person.store / "credentials" / name
    kubeconfig_before = (person.home / ".kube" / "config").read_bytes()
    user = next(u for u in person.config()["users"] if u["name"] == name)["user"]
    assert list(user) == ["exec"] and user["exec"]["interactiveMode"] == "Never"

    # kubectl answers with the current certificate and starts the renewal, which waits for approval
    # in the background: kubectl has returned while the request is still pending.
    first = credential_id(person)
    filed = live_cluster.server.wait_for(
        lambda: next(iter(live_cluster.server.list(*CSR)), None), 60, what="the renewal request"
    )
    assert filed["metadata"]["name"].startswith("usercert-renew-bob-")
    assert filed["spec"]["username"] == "bob" and filed["spec"]["extra"][CREDENTIAL_ID] == [first]
    assert json.loads((folder / "renewal.json").read_text())["outcome"] == "running"
    assert not (live_cluster.server.list(*CSR)[0].get("status") or {}).get("certificate")
    for _ in range(3):  # kubectl keeps working meanwhile, with the same certificate
        pods = person.kubectl("get", "pods", "-n", "default")
        assert pods.returncode == 0, pods.stderr
        assert credential_id(person) == first

    approver = admin.start("approve", "--watch")
    try:
        deadline, now_id = time.monotonic() + 180, first
        while now_id == first and time.monotonic() < deadline and approver.poll() is None:
            time.sleep(0.5)
            now_id = credential_id(person)  # every call succeeds, before and after the renewal
        # renew --self by hand works on a credential the plugin serves, and the kubeconfig stays
        by_hand = person.cli("renew", "--self", "--wait", "2m")
        assert by_hand.returncode == 0, by_hand.stderr
        third = credential_id(person)
        assert third not in (first, now_id)
    finally:
        approver.send_signal(signal.SIGTERM)
        said, complaints = approver.communicate(timeout=60)
    assert now_id != first, (complaints, (folder / "renewal.log").read_text())
    assert approver.returncode == 0 and said == "", complaints  # SIGTERM ends it cleanly

    # The ledger records it: whois knows the new credential id, as the renewal of bob.
    for renewed in (now_id, third):
        whois = admin.cli("whois", renewed, "-o", "json")
        assert whois.returncode == 0, whois.stderr
        [match] = json.loads(whois.stdout)["status"]["matches"]
        assert (match["user"], match["event"], match["credentialID"]) == ("bob", "renewed", renewed)
    assert json.loads((folder / "renewal.json").read_text())["outcome"] == "renewed"
    state = json.loads((folder / "state.json").read_text())
    assert state["renewBefore"] == "20m"  # ("renew right away" applied once: a third from now on)
    assert (person.home / ".kube" / "config").read_bytes() == kubeconfig_before
    assert person.whoami() == {"username": "bob", "groups": ["dev", "system:authenticated"]}

    # No key in the renewal's log or record; none of the person's keys on the admin's side.
    for key in person_keys(person):
        assert not files_holding([folder], key_forms(key))
        assert not files_holding([admin.home, admin.work], key_forms(key))
    assert len(person_keys(person)) == 1  # the old key went with the old certificate
    assert Path(folder / "renewal.log").stat().st_mode & 0o777 == 0o600
