"""A person whose certificate is about to expire keeps working through kubectl while the admin's
`approve` runs: end to end against the test API server (which fills spec.username, spec.groups
and spec.extra as kube-apiserver does), with real kubectl running the credential plugin that
`import --exec` wrote. kubectl answers at once while the renewal waits in the background; once
`approve --watch` has approved it, the next kubectl call uses a new certificate (another credential id in
the server's view), the ledger records it (whois finds it), and the kubeconfig never changed."""

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from helpers import LAUNCHER
from person_homes import (
    FAULTY_CLI,
    admin_machine,
    bob_signed,
    files_holding,
    key_forms,
    person_keys,
    person_machine,
)

CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
NAME = "bob@test-cluster"


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


@pytest.mark.cost(9)
def test_a_person_keeps_working_while_approve_renews_their_certificate(live_cluster, machines):
    admin, person = machines
    bob_signed(
        admin, person, "--clusterrole", "view", "--self-renew", "--expiration", "1h",
        *live_cluster.ca_args,
    )  # fmt: skip
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


# --- a renewal killed at any moment, or on a full disk --------------------------------------------


def _renewal(person, fault="none:0", count=None):
    environment = dict(person.env, USERCERT_TEST_FAULT=fault)
    if count:
        environment["USERCERT_TEST_FAULT_COUNT"] = str(count)
    return subprocess.Popen(
        [*FAULTY_CLI, "renew", "--self", "--credential", NAME] + ["--background", "--wait", "60s"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=environment,
        cwd=person.work,
    )


def _approve_while_it_runs(live_cluster, admin, renewing, kill_after=None):
    """Approve each request the renewal files while it runs (as approve --watch would); with
    kill_after, SIGKILL it that many seconds after its request is approved. The certificates the
    cluster issued meanwhile."""
    issued, approved_at = set(), None
    while renewing.poll() is None:
        for csr in live_cluster.server.list(*CSR):
            conditions = [c["type"] for c in (csr.get("status") or {}).get("conditions") or []]
            if (csr.get("status") or {}).get("certificate"):
                issued.add(base64.b64decode(csr["status"]["certificate"]))
            if not conditions:
                admin.kubectl("certificate", "approve", csr["metadata"]["name"])
                approved_at = time.monotonic()
        if kill_after is not None and approved_at and time.monotonic() >= approved_at + kill_after:
            renewing.send_signal(signal.SIGKILL)
        time.sleep(0.02)
    for csr in live_cluster.server.list(*CSR):
        if (csr.get("status") or {}).get("certificate"):
            issued.add(base64.b64decode(csr["status"]["certificate"]))
    return issued, approved_at


def _served(person):
    """What the plugin answers now, checked: an ExecCredential whose certificate and key are a pair.
    (A credential whose kubeconfig user holds them: the pair it holds.)"""
    user = next(u["user"] for u in person.config()["users"] if u["name"] == NAME)
    if "exec" in user:
        answer = subprocess.run(
            [sys.executable, str(LAUNCHER), "credential", "--credential", NAME],
            capture_output=True,
            text=True,
            env=person.env,
            timeout=30,
        )
        assert answer.returncode == 0 and answer.stderr == "", answer.stderr
        status = json.loads(answer.stdout)["status"]
        cert_pem, key_pem = status["clientCertificateData"], status["clientKeyData"]
    else:
        cert_pem, key_pem = (
            base64.b64decode(user[f"client-{what}-data"]).decode()
            for what in ("certificate", "key")
        )
    certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    assert certificate.public_key() == key.public_key()
    return cert_pem.encode()


@pytest.fixture(params=["exec", "inline"])
def renewable(live_cluster, machines, request):
    """bob's credential, served by the plugin (or held by the kubeconfig's user: inline), with the
    right to renew itself (signed for 1h)."""
    admin, person = machines
    bob_signed(
        admin, person, "--clusterrole", "view", "--self-renew", "--expiration", "1h",
        *live_cluster.ca_args,
    )  # fmt: skip
    exec_plugin = ["--exec"] if request.param == "exec" else []
    imported = person.cli("import", "kubeconfig", *exec_plugin, "--set-current")
    assert imported.returncode == 0, imported.stderr
    return admin, person


def _current(person):
    """The certificates in use before a run: the one served, and the store's (a run killed between
    the store and an inline kubeconfig leaves the kubeconfig with the one before the store's; the
    next renewal puts the store's into it first)."""
    state = person.store / "credentials" / NAME / "state.json"
    return {_served(person), json.loads(state.read_text())["certificate"].encode()}


def _after_a_fault(live_cluster, person, before, issued, renewing):
    """Whatever moment the run ended at: the plugin serves the old certificate or the one the
    cluster issued, with its key, and kubectl works with it."""
    served = _served(person)
    assert served in {*before, *issued}, renewing.stderr.read()
    assert person.whoami() == {"username": "bob", "groups": ["dev", "system:authenticated"]}
    return served


@pytest.mark.cost(40)
def test_a_renewal_killed_at_any_change_leaves_a_working_credential(
    live_cluster, renewable, tmp_path
):
    """SIGKILL just before each change a renewal makes to a file (every rename and removal, in
    order), then at moments spread over what follows the approval (measured here, now): kubectl
    gets the old certificate or the new one with its own key every time, never a refusal."""
    admin, person = renewable
    count = tmp_path / "count"
    before = _current(person)
    whole = _renewal(person, count=count)
    started = time.monotonic()
    issued, approved_at = _approve_while_it_runs(live_cluster, admin, whole)
    assert whole.returncode == 0, whole.stderr.read()
    after_approval = time.monotonic() - approved_at
    changes, _ = map(int, count.read_text().split())
    assert _after_a_fault(live_cluster, person, before, issued, whole) in issued
    outcomes = set()
    for at in range(1, changes + 1):
        before = _current(person)
        renewing = _renewal(person, f"kill:{at}")
        issued, _ = _approve_while_it_runs(live_cluster, admin, renewing)
        assert renewing.returncode == -signal.SIGKILL, (at, renewing.stderr.read())
        outcomes.add(_after_a_fault(live_cluster, person, before, issued, renewing) in before)
    assert outcomes == {True, False}  # (killed before the new certificate was in place, and after)
    for step in range(8 if "exec" in str(person.config()) else 0):
        before = _current(person)
        renewing = _renewal(person)
        kill_after = after_approval * step / 7
        issued, _ = _approve_while_it_runs(live_cluster, admin, renewing, kill_after)
        _after_a_fault(live_cluster, person, before, issued, renewing)
    renewing = _renewal(person)  # and the next renewal goes through
    issued, _ = _approve_while_it_runs(live_cluster, admin, renewing)
    assert renewing.returncode == 0, renewing.stderr.read()
    assert _after_a_fault(live_cluster, person, before, issued, renewing) in issued
    assert time.monotonic() - started < 600


@pytest.mark.cost(25)
def test_a_renewal_on_a_full_disk_leaves_a_working_credential(live_cluster, renewable, tmp_path):
    """The disk full from each write of a renewal on: it fails, and the plugin still serves the old
    certificate (or, once the new state is written, the new one) with its key."""
    admin, person = renewable
    count = tmp_path / "count"
    before = _current(person)
    whole = _renewal(person, count=count)
    issued, _ = _approve_while_it_runs(live_cluster, admin, whole)
    assert whole.returncode == 0, whole.stderr.read()
    _, writes = map(int, count.read_text().split())
    for at in range(1, writes + 1):
        before = _current(person)
        renewing = _renewal(person, f"full:{at}")
        issued, _ = _approve_while_it_runs(live_cluster, admin, renewing)
        said = renewing.stderr.read()
        assert renewing.returncode in (0, 1), said
        assert "Traceback" not in said, said
        _after_a_fault(live_cluster, person, before, issued, renewing)


def test_request_submit_exec_writes_the_credential_plugin(live_cluster, machines):
    """request --submit --exec: the person files their own request, and the context it adds runs
    the credential plugin (renewBefore as asked); without --submit, --exec is refused."""
    from test_person_round_trip import approve_when_filed, may_file_requests

    admin, person = machines
    may_file_requests(live_cluster, person)
    submitting = person.start(
        "request", "bob", "dev", "--key-type", "ecdsa", "--submit", "--context", "bootstrap",
        "--set-current", "--expiration", "2h", "--wait", "90s", "--exec", "--renew-before", "30m",
    )  # fmt: skip
    approve_when_filed(live_cluster, admin, submitting)
    _, err = submitting.communicate(timeout=120)
    assert submitting.returncode == 0, err
    written = yaml.safe_load((person.home / ".kube" / "config").read_text())
    user = next(u["user"] for u in written["users"] if u["name"] == "bob@test")
    assert user == {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "kubectl-usercert",
            "args": ["credential", "--credential", "bob@test"],
            "interactiveMode": "Never",
            "provideClusterInfo": False,
        }
    }
    state = json.loads((person.store / "credentials" / "bob@test" / "state.json").read_text())
    assert state["renewBefore"] == "30m"
    assert person.whoami() == {"username": "bob", "groups": ["dev", "system:authenticated"]}
    alone = person.cli("request", "carol", "--exec")
    assert alone.returncode == 2 and "are for --submit" in alone.stderr
    early = person.cli("request", "carol", "--submit", "--renew-before", "1h")
    assert early.returncode == 2 and "--renew-before is for --submit --exec" in early.stderr
