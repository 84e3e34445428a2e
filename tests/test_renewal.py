"""What a renewal keeps and what it refuses to trust (issue 17): the lifetime and the approval it
was issued with, the identity the ledger's latest record holds (never a file put back in the
folder, never a revoked user), and a credential a killed run left unrecorded, adopted first."""

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from helpers import EC, LAUNCHER, SERVER, ca_args, ledger_lines, run_cli, user_cert, whoami

CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")
FIVE_MINUTES = timedelta(minutes=5)


def now():
    return datetime.now(timezone.utc)


def create(ca, user, *args):
    result = run_cli("create", user, *EC, *ca_args(ca), "--server", SERVER, *args)
    assert result.returncode == 0, result.stderr
    return result


def groups_of(cert):
    return [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def assert_issued_for(cert, lifetime, before, after):
    """notBefore five minutes before it was issued, notAfter `lifetime` after (issued between before and after)."""
    assert before.replace(microsecond=0) - FIVE_MINUTES <= cert.not_valid_before_utc <= after - FIVE_MINUTES
    assert before.replace(microsecond=0) + lifetime <= cert.not_valid_after_utc <= after + lifetime


# 1. Renewal keeps the lifetime it was issued with


@pytest.mark.parametrize("flag, lifetime, recorded", [
    (["--expiration", "2h"], timedelta(hours=2), "2h"), (["--expiration", "8h"], timedelta(hours=8), "8h"),
    (["--days", "10"], timedelta(days=10), "10d"), (["--expiration", "30d"], timedelta(days=30), "30d")])
def test_renew_keeps_the_lifetime_it_was_issued_with(signing_ca, isolated, flag, lifetime, recorded):
    create(signing_ca, "erin", "dev", *flag)
    before = now()
    renewed = run_cli("renew", "erin", "-o", "json")  # no flags: the recorded CA, the recorded lifetime
    after = now()
    assert renewed.returncode == 0, renewed.stderr
    assert f"Renewing for {recorded}, the lifetime it was issued with" in renewed.stderr
    assert_issued_for(user_cert("erin"), lifetime, before, after)
    assert json.loads(renewed.stdout)["status"]["lifetime"] == recorded
    assert [line.get("lifetime") for line in ledger_lines()] == [recorded, recorded]


def test_days_or_expiration_on_renew_change_the_lifetime(signing_ca, isolated):
    create(signing_ca, "erin", "dev", "--expiration", "2h")
    before = now()
    assert run_cli("renew", "erin", "--days", "3").returncode == 0
    assert_issued_for(user_cert("erin"), timedelta(days=3), before, now())
    before = now()
    assert run_cli("renew", "erin").returncode == 0  # the lifetime asked last
    assert_issued_for(user_cert("erin"), timedelta(days=3), before, now())
    assert [line["lifetime"] for line in ledger_lines()] == ["2h", "3d", "3d"]


@pytest.mark.parametrize("window, kept", [(timedelta(days=10), timedelta(days=10)),
                                          (timedelta(hours=2, minutes=5), timedelta(hours=2))])
def test_a_ledger_line_without_a_lifetime_renews_for_its_window(signing_ca, isolated, window, kept):
    """Lines written before the ledger recorded the lifetime: notAfter - notBefore, less the five
    minutes a signer backdates (2h05m was asked as 2h)."""
    create(signing_ca, "erin", "dev", "--expiration", "30d")
    ledger = Path("clients/.usercert/ledger.jsonl")
    [line] = [json.loads(text) for text in ledger.read_text().splitlines()]
    del line["lifetime"]
    not_after = datetime.strptime(line["notAfter"], "%Y-%m-%dT%H:%M:%SZ")
    line["notBefore"] = (not_after - window).strftime("%Y-%m-%dT%H:%M:%SZ")
    ledger.write_text(json.dumps(line) + "\n")
    before = now()
    renewed = run_cli("renew", "erin")
    assert renewed.returncode == 0, renewed.stderr
    assert_issued_for(user_cert("erin"), kept, before, now())


def test_apply_renews_for_the_rosters_lifetime(signing_ca, isolated):
    create(signing_ca, "erin", "dev", "--expiration", "2h")
    Path("team.yaml").write_text("apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: t}\n"
                                 "spec:\n  users:\n  - {name: erin, groups: [dev], keyType: ecdsa, days: 3, "
                                 "renewBefore: 3h}\n")
    before = now()
    applied = run_cli("apply", "-f", "team.yaml", "--server", SERVER)
    assert applied.returncode == 0, applied.stderr
    assert_issued_for(user_cert("erin"), timedelta(days=3), before, now())
    assert ledger_lines()[-1]["lifetime"] == "3d"


@pytest.fixture
def cluster(live_cluster):
    """live_cluster whose controller signs approved kube-apiserver-client requests with the client CA."""
    live_cluster.server.sign_csrs_with(live_cluster.client_ca.cert, live_cluster.client_ca.key)
    return live_cluster


def test_a_request_approved_with_approve_is_renewed_approved_for_its_lifetime(cluster, isolated):
    created = run_cli("create", "erin", "dev", "--signer", "csr", "--approve", "--expiration", "2h", *EC)
    assert created.returncode == 0, created.stderr
    assert (ledger_lines()[-1]["approval"], ledger_lines()[-1]["lifetime"]) == ("self", "2h")
    before = now()
    renewed = run_cli("renew", "erin", "--wait", "10s")  # no --approve: the ledger says this tool approved it
    assert renewed.returncode == 0, renewed.stderr
    assert_issued_for(user_cert("erin"), timedelta(hours=2), before, now())
    assert whoami(cluster, "clients/erin/kubeconfig")["username"] == "erin"
    assert [(line["event"], line["approval"]) for line in ledger_lines()] == [("issued", "self"), ("renewed", "self")]
    assert cluster.server.list(*CSR) == []
