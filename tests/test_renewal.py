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
    assert (
        before.replace(microsecond=0) - FIVE_MINUTES
        <= cert.not_valid_before_utc
        <= after - FIVE_MINUTES
    )
    assert before.replace(microsecond=0) + lifetime <= cert.not_valid_after_utc <= after + lifetime


# 1. Renewal keeps the lifetime it was issued with


@pytest.mark.parametrize(
    "flag, lifetime, recorded",
    [
        (["--expiration", "2h"], timedelta(hours=2), "2h"),
        (["--expiration", "8h"], timedelta(hours=8), "8h"),
        (["--days", "10"], timedelta(days=10), "10d"),
        (["--expiration", "30d"], timedelta(days=30), "30d"),
    ],
)
def test_renew_keeps_the_lifetime_it_was_issued_with(
    signing_ca, isolated, flag, lifetime, recorded
):
    create(signing_ca, "erin", "dev", *flag)
    before = now()
    renewed = run_cli(
        "renew", "erin", "-o", "json"
    )  # no flags: the recorded CA, the recorded lifetime
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


@pytest.mark.parametrize(
    "window, kept",
    [(timedelta(days=10), timedelta(days=10)), (timedelta(hours=2, minutes=5), timedelta(hours=2))],
)
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
    Path("team.yaml").write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: t}\n"
        "spec:\n  users:\n  - {name: erin, groups: [dev], keyType: ecdsa, days: 3, "
        "renewBefore: 3h}\n"
    )
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
    created = run_cli(
        "create", "erin", "dev", "--signer", "csr", "--approve", "--expiration", "2h", *EC
    )
    assert created.returncode == 0, created.stderr
    assert (ledger_lines()[-1]["approval"], ledger_lines()[-1]["lifetime"]) == ("self", "2h")
    before = now()
    renewed = run_cli(
        "renew", "erin", "--wait", "10s"
    )  # no --approve: the ledger says this tool approved it
    assert renewed.returncode == 0, renewed.stderr
    assert_issued_for(user_cert("erin"), timedelta(hours=2), before, now())
    assert whoami(cluster, "clients/erin/kubeconfig")["username"] == "erin"
    assert [(line["event"], line["approval"]) for line in ledger_lines()] == [
        ("issued", "self"),
        ("renewed", "self"),
    ]
    assert cluster.server.list(*CSR) == []


# 2. Renewal takes the identity from the latest record, never from a file


def roster(*users):
    Path("team.yaml").write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: t}\n"
        "spec:\n  defaults: {keyType: ecdsa, days: 30, renewBefore: 15d}\n  users:\n"
        + "".join(f"  - {user}\n" for user in users)
    )
    return "team.yaml"


def test_an_older_certificate_put_back_is_not_renewed(signing_ca, isolated):
    create(signing_ca, "al", "dev", "admins", "--days", "10")
    old_serial = ledger_lines()[-1]["serial"]
    assert run_cli("renew", "al", "-g", "dev").returncode == 0
    assert groups_of(user_cert("al")) == ["dev"]
    assert (
        run_cli("renew", "al").returncode == 0
    )  # the groups of the latest record, not of any file
    assert groups_of(user_cert("al")) == ["dev"]
    lines = ledger_lines()
    shutil.copy(f"clients/al/al.{old_serial}.crt", "clients/al/al.crt")  # the one with admins, back

    result = run_cli("renew", "al")
    assert result.returncode == 2
    assert (
        "error: clients/al/al.crt is not the latest certificate issued to 'al' (that is serial "
        f"{lines[-1]['serial']}, renewed "
        in result.stderr
        and "hint: the folder was changed by hand" in result.stderr
    )
    applied = run_cli(
        "apply", "-f", roster("{name: al, groups: [dev]}"), "--server", SERVER, "-o", "json"
    )
    assert applied.returncode == 1
    [user] = json.loads(applied.stdout)["status"]["users"]
    assert (
        user["outcome"] == "failed"
        and "is not the latest certificate issued to 'al'" in user["error"]
    )
    assert ledger_lines() == lines and groups_of(user_cert("al")) == [
        "dev",
        "admins",
    ]  # nothing issued


def test_a_revoked_user_put_back_is_not_renewed(signing_ca, isolated):
    create(signing_ca, "rv", "dev", "admins")
    run_cli(
        "revoke", "rv"
    )  # no cluster here: archived and recorded, the bindings left to a later run
    revoked = ledger_lines()[-1]
    assert revoked["event"] == "revoked"
    [archive] = Path("clients/.usercert/revoked").iterdir()
    archive.rename("clients/rv")

    result = run_cli("renew", "rv", *ca_args(signing_ca))
    assert result.returncode == 2
    when = revoked["time"][:16].replace("T", " ")
    assert (
        f"error: 'rv' was revoked on {when}Z: renew never renews a revoked user; 'kubectl usercert create rv' "
        "issues anew" in result.stderr
    )
    assert ledger_lines()[-1] == revoked and len(ledger_lines()) == 2


# 5. An unrecorded credential is adopted by whichever command meets it first


def killed_before_recording(ca, user, *args):
    """`create USER` SIGKILLed between moving its folder into place and writing its ledger line (the
    ledger is held locked meanwhile, as `flock ledger.jsonl sleep` would); the certificate left."""
    import fcntl
    import os
    import signal
    import time

    create(ca, "someone")
    with open("clients/.usercert/ledger.jsonl", "rb") as ledger:
        fcntl.flock(ledger, fcntl.LOCK_EX)
        process = subprocess.Popen(
            [
                sys.executable,
                str(LAUNCHER),
                "create",
                user,
                *args,
                *EC,
                *ca_args(ca),
                "--server",
                SERVER,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not Path(f"clients/{user}/{user}.crt").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert [line["user"] for line in ledger_lines()] == ["someone"]
    return user_cert(user)


def whois_users(serial):
    result = run_cli("whois", format(serial, "X"), "-o", "json")
    return (
        [(m["user"], m["event"]) for m in json.loads(result.stdout)["status"]["matches"]]
        if result.returncode == 0
        else result.stderr
    )


def test_renew_adopts_what_a_killed_run_left_before_renewing(signing_ca, isolated):
    first = killed_before_recording(signing_ca, "held", "dev")
    result = run_cli("renew", "held", *ca_args(signing_ca))
    assert result.returncode == 0, result.stderr
    assert [(line["user"], line["event"]) for line in ledger_lines()] == [
        ("someone", "issued"),
        ("held", "adopted"),
        ("held", "renewed"),
    ]
    assert int(ledger_lines()[-1]["previousSerial"], 16) == first.serial_number
    assert whois_users(first.serial_number) == [("held", "adopted")]
    assert groups_of(user_cert("held")) == ["dev"]


def test_apply_adopts_before_it_reissues(signing_ca, isolated):
    first = killed_before_recording(signing_ca, "held", "dev")
    applied = run_cli(
        "apply",
        "-f",
        roster("{name: held, groups: [ops]}", "{name: someone}"),
        *ca_args(signing_ca),
        "--server",
        SERVER,
    )
    assert applied.returncode == 0, applied.stderr
    assert [line["event"] for line in ledger_lines() if line["user"] == "held"] == [
        "adopted",
        "renewed",
    ]
    assert whois_users(first.serial_number) == [("held", "adopted")]
    assert groups_of(user_cert("held")) == ["ops"]


def test_revoke_adopts_before_it_revokes(signing_ca, isolated, monkeypatch):
    first = killed_before_recording(signing_ca, "held", "dev")
    monkeypatch.setenv(
        "USERCERT_CA_CERT", str(signing_ca.cert_path)
    )  # a CA known here: the chain is checked
    monkeypatch.setenv("USERCERT_CA_KEY", str(signing_ca.key_path))
    run_cli("revoke", "held")
    assert [line["event"] for line in ledger_lines() if line["user"] == "held"] == [
        "adopted",
        "revoked",
    ]
    assert whois_users(first.serial_number) == [("held", "adopted"), ("held", "revoked")]


def test_a_certificate_planted_in_a_folder_is_never_adopted(signing_ca, isolated, tmp_path):
    import pki

    create(signing_ca, "alice", "dev")
    recorded = ledger_lines()[-1]
    other = pki.make_ca(
        tmp_path / "other", "other-ca"
    )  # a CA the cluster may trust too, but not the one here
    pki.make_client_cert(
        other, "clients/alice", "alice", ["system:masters"], filename_stem="alice", key_type="ec"
    )
    planted = user_cert("alice")
    Path("clients/bob").mkdir()  # never issued here at all
    pki.make_client_cert(
        other, "clients/bob", "bob", ["admins"], filename_stem="bob", key_type="ec"
    )

    exists = run_cli("create", "alice", *EC, *ca_args(signing_ca), "--server", SERVER)
    assert exists.returncode == 3
    assert (
        "its certificate is not in the ledger, and was not recorded: it does not chain to the CA"
        in exists.stderr
    )
    exists = run_cli("create", "bob", *EC, *ca_args(signing_ca), "--server", SERVER)
    assert exists.returncode == 3 and "was not recorded" in exists.stderr
    renewed = run_cli("renew", "alice", *ca_args(signing_ca))
    assert renewed.returncode == 2 and "this tool could not have issued it" in renewed.stderr
    revoked = run_cli("revoke", "alice", "-o", "json")
    assert "Not recording clients/alice/alice.crt" in revoked.stderr
    status = json.loads(revoked.stdout)["status"]
    assert (
        status["serial"] == recorded["serial"]
    )  # what the ledger says was issued, not the planted file
    assert [line["event"] for line in ledger_lines()] == ["issued", "revoked"]
    assert ledger_lines()[-1]["groups"] == ["dev"]
    assert isinstance(whois_users(planted.serial_number), str)  # "no certificate with that serial"


def test_create_force_adopts_what_it_replaces(signing_ca, isolated):
    first = killed_before_recording(signing_ca, "held", "dev")
    create(signing_ca, "held", "ops", "--force")
    assert [line["event"] for line in ledger_lines() if line["user"] == "held"] == [
        "adopted",
        "issued",
    ]
    assert whois_users(first.serial_number) == [("held", "adopted")]


def test_apply_approves_a_renewal_as_the_request_was_approved(cluster, isolated):
    team = Path("team.yaml")
    text = (
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: t}\nspec:\n"
        "  defaults: {keyType: ecdsa, signer: csr, %s}\n  users:\n  - {name: erin, groups: [dev]}\n"
    )
    team.write_text(text % "days: 30")
    first = run_cli("apply", "-f", team, "--approve")
    assert first.returncode == 0, first.stderr
    team.write_text(text % "days: 60, renewBefore: 45d")  # 30 days left: within 45d
    again = run_cli(
        "apply", "-f", team, "--wait", "10s", "-o", "json"
    )  # no --approve: as the ledger says
    assert again.returncode == 0, again.stderr
    assert [u["actions"] for u in json.loads(again.stdout)["status"]["users"]] == [["renew"]]
    assert [(line["event"], line["approval"], line["lifetime"]) for line in ledger_lines()] == [
        ("issued", "self", "30d"),
        ("renewed", "self", "60d"),
    ]
    assert cluster.server.list(*CSR) == []
