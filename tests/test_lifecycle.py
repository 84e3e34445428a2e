"""The ledger and inspect, list, whois, renew: what an admin sees about what was issued."""

import base64
import datetime
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

import pki
from helpers import SERVER, ca_args, json_here, run_here, run_launcher
from helpers import ledger_lines as ledger_of


def create(capsys, ca, user, *args):
    result = run_here(
        capsys, "create", user, *args, "--key-type", "ecdsa", *ca_args(ca), "--server", SERVER
    )
    assert result.returncode == 0, result.stderr
    return result


def cert_of(isolated, user):
    return x509.load_pem_x509_certificate(
        (isolated / "clients" / user / f"{user}.crt").read_bytes()
    )


def ledger_lines(isolated):
    return ledger_of(isolated / "clients")


def test_ledger_records_each_issuance(signing_ca, isolated, capsys):
    create(capsys, signing_ca, "alice", "dev")
    [entry] = ledger_lines(isolated)
    cert = cert_of(isolated, "alice")
    assert entry["event"] == "issued" and entry["user"] == "alice" and entry["groups"] == ["dev"]
    assert int(entry["serial"], 16) == cert.serial_number
    assert (
        entry["fingerprintSHA256"].replace(":", "").lower()
        == cert.fingerprint(hashes.SHA256()).hex()
    )
    assert (
        entry["caFingerprintSHA256"].replace(":", "").lower()
        == signing_ca.cert.fingerprint(hashes.SHA256()).hex()
    )
    assert entry["server"] == SERVER and entry["signer"] == "local"
    assert entry["notAfter"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_parallel_creates_keep_every_ledger_line_whole(signing_ca, isolated):
    # eight processes (run_launcher) appending to one ledger at once
    users = [f"user{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda u: run_launcher(
                    "create", u, "--key-type", "ecdsa", *ca_args(signing_ca), "--server", SERVER
                ),
                users,
            )
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert sorted(entry["user"] for entry in ledger_lines(isolated)) == users


def test_inspect_user_kubeconfig_and_pem(signing_ca, isolated, capsys):
    create(capsys, signing_ca, "alice", "dev", "-g", "ops")
    cert = cert_of(isolated, "alice")
    for target in ("alice", "clients/alice/kubeconfig", "clients/alice/alice.crt"):
        record = json_here(capsys, "inspect", target, "--ca-cert", signing_ca.cert_path)
        assert record["spec"] == {"user": "alice", "groups": ["dev", "ops"]}
        status = record["status"]
        assert status["credentialID"] == "X509SHA256=" + cert.fingerprint(hashes.SHA256()).hex()
        assert status["keyMatches"] is True and status["chainValid"] is True
        assert status["state"] == "valid" and status["keyType"] == "ECDSA"
    human = run_here(capsys, "inspect", "alice", "--ca-cert", signing_ca.cert_path)
    assert "key matches  yes" in human.stderr and "alice" in human.stderr


def test_inspect_reports_a_foreign_chain_and_a_wrong_key(signing_ca, isolated, tmp_path, capsys):
    create(capsys, signing_ca, "alice")
    other = pki.make_ca(tmp_path / "other", "other-ca")
    assert (
        json_here(capsys, "inspect", "alice", "--ca-cert", other.cert_path)["status"]["chainValid"]
        is False
    )
    wrong_key = serialization.load_pem_private_key(other.key_path.read_bytes(), None)
    (isolated / "clients/alice/alice.key").write_bytes(
        wrong_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert json_here(capsys, "inspect", "clients/alice/alice.crt")["status"]["keyMatches"] is False


def test_inspect_unknown_target(isolated, capsys):
    result = run_here(capsys, "inspect", "nobody")
    assert (
        result.returncode == 2 and "no user 'nobody'" in result.stderr and "hint:" in result.stderr
    )


def test_list_sorts_by_expiry_and_filters(signing_ca, isolated, capsys):
    create(capsys, signing_ca, "late", "--days", "200")
    create(capsys, signing_ca, "soon", "--days", "10")
    listing = json_here(capsys, "list")
    assert [item["spec"]["user"] for item in listing["items"]] == ["soon", "late"]
    assert [item["status"]["state"] for item in listing["items"]] == [
        "valid",
        "valid",
    ]  # both fresh
    assert [
        item["spec"]["user"] for item in json_here(capsys, "list", "--expiring", "30d")["items"]
    ] == ["soon"]
    human = run_here(capsys, "list")
    assert "USER" in human.stdout and "soon" in human.stdout and "STATUS" in human.stdout


def test_list_names_only_the_users_asked_for(signing_ca, isolated, capsys):
    for user, days in (("alice", "100"), ("bob", "10"), ("carol", "50")):
        create(capsys, signing_ca, user, "--days", days)
    assert [
        item["spec"]["user"] for item in json_here(capsys, "list", "alice", "bob")["items"]
    ] == ["bob", "alice"]
    table = run_here(capsys, "list", "carol")
    assert table.returncode == 0 and [line.split()[0] for line in table.stdout.splitlines()] == [
        "USER",
        "carol",
    ]
    assert [
        item["spec"]["user"]
        for item in json_here(capsys, "list", "alice", "bob", "--expiring", "30d")["items"]
    ] == ["bob"]
    # as `kubectl get pods a nosuch`: those found on stdout, one error line per name not found, exit 1
    result = run_here(capsys, "list", "alice", "nosuch", "-q", "-o", "json")
    assert result.returncode == 1 and [
        item["spec"]["user"] for item in json.loads(result.stdout)["items"]
    ] == ["alice"]
    assert (
        result.stderr
        == 'error: user "nosuch" not found (no folder in the out-dir, no record in its ledger)\n'
    )
    result = run_here(capsys, "list", "nosuch")
    assert (result.returncode, result.stdout) == (
        1,
        "",
    ) and "No certificates found" not in result.stderr


def test_list_table_is_data_a_pipe_can_use(signing_ca, isolated, capsys):
    server = "https://" + "very-long-host-name." * 8 + "example.com:6443"
    for user in ("alice", "bob"):
        result = run_here(
            capsys,
            "create",
            user,
            "dev",
            "--key-type",
            "ecdsa",
            *ca_args(signing_ca),
            "--server",
            server,
        )
        assert result.returncode == 0, result.stderr
    listed = run_launcher("list")  # a separate process, its stdout a real pipe
    lines = listed.stdout.splitlines()
    assert len(lines) == 3 and lines[0].split() == [
        "USER",
        "GROUPS",
        "EXPIRES",
        "DAYS",
        "LEFT",
        "STATUS",
        "SERVER",
    ]
    assert all(line.endswith(server) for line in lines[1:])  # whole, not cut at 80 columns
    assert "\x1b" not in listed.stdout and all(line == line.rstrip() for line in lines)
    assert [line.split()[0] for line in lines[1:]] == ["alice", "bob"]


def test_list_paths_work_from_wherever_it_runs(signing_ca, isolated, capsys, monkeypatch, tmp_path):
    create(capsys, signing_ca, "alice")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    [item] = json_here(capsys, "list", "--out-dir", isolated / "clients")["items"]
    assert os.path.isfile(item["status"]["kubeconfig"]) and os.path.isdir(
        item["status"]["directory"]
    )


def test_list_keeps_what_the_ledger_knows_when_files_are_gone(signing_ca, isolated, capsys):
    create(capsys, signing_ca, "handed-over")
    for name in os.listdir(isolated / "clients/handed-over"):
        os.unlink(isolated / "clients/handed-over" / name)
    os.rmdir(isolated / "clients/handed-over")
    [item] = json_here(capsys, "list")["items"]
    assert item["spec"]["user"] == "handed-over" and item["status"]["state"] == "files missing"


def test_list_shows_expired_certificates(signing_ca, isolated, tmp_path, capsys):
    now = datetime.datetime.now(datetime.timezone.utc)
    folder = isolated / "clients/old"
    folder.mkdir(parents=True)
    pki.make_client_cert(
        signing_ca,
        folder,
        "old",
        ["dev"],
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
        filename_stem="old",
    )
    [item] = json_here(capsys, "list")["items"]
    assert item["status"]["state"] == "expired" and item["status"]["daysLeft"] < 0


def test_damaged_ledger_line_is_reported_not_fatal(signing_ca, isolated, capsys):
    create(capsys, signing_ca, "alice")
    with open(isolated / "clients/.usercert/ledger.jsonl", "a") as ledger:
        ledger.write('{"user": "half-writ\n')
    result = run_here(capsys, "list", "-o", "json")
    assert result.returncode == 0
    assert "line 2" in json.loads(result.stdout)["warnings"][0]
    assert "line 2" in run_here(capsys, "list").stderr


@pytest.mark.parametrize("form", ["credential-id", "upper-colons", "serial", "serial-0x"])
def test_whois_round_trips_an_independent_fingerprint(signing_ca, isolated, form, capsys):
    create(capsys, signing_ca, "alice", "dev")
    create(capsys, signing_ca, "bob")
    cert = cert_of(isolated, "alice")
    digest = cert.fingerprint(hashes.SHA256()).hex()
    query = {
        "credential-id": "X509SHA256=" + digest,
        "upper-colons": ":".join(digest[i : i + 2] for i in range(0, 64, 2)).upper(),
        "serial": format(cert.serial_number, "x"),
        "serial-0x": "0x" + format(cert.serial_number, "X"),
    }[form]
    [match] = json_here(capsys, "whois", query)["status"]["matches"]
    assert match["user"] == "alice" and match["groups"] == ["dev"]
    assert run_here(capsys, "whois", query).stderr.startswith("alice (groups: dev)")


def test_whois_unknown(signing_ca, isolated, capsys):
    create(capsys, signing_ca, "alice")
    result = run_here(capsys, "whois", "X509SHA256=" + "ab" * 32)
    assert result.returncode == 1 and "no certificate" in result.stderr
    assert run_here(capsys, "whois", "not-hex!").returncode == 2


def test_renew_keeps_the_key_archives_the_old_certificate(signing_ca, isolated, capsys):
    create(capsys, signing_ca, "alice", "dev", "-n", "team")
    old = cert_of(isolated, "alice")
    key_before = (isolated / "clients/alice/alice.key").read_bytes()
    result = run_here(capsys, "renew", "alice", "--days", "30", *ca_args(signing_ca), "-o", "json")
    assert result.returncode == 0, result.stderr
    assert "Renewed a client certificate for alice" in result.stderr
    assert json.loads(result.stdout)["status"]["namespace"] == "team"
    new = cert_of(isolated, "alice")
    assert new.serial_number != old.serial_number
    assert new.public_key() == old.public_key()
    assert (isolated / "clients/alice/alice.key").read_bytes() == key_before
    assert new.subject == old.subject
    archived = (
        isolated / "clients/alice" / f"alice.{format(old.serial_number, 'X').rjust(32, '0')}.crt"
    )
    assert x509.load_pem_x509_certificate(archived.read_bytes()) == old
    view = subprocess.run(
        [
            "kubectl",
            "config",
            "view",
            "--kubeconfig",
            "clients/alice/kubeconfig",
            "--raw",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(view.stdout)
    assert config["contexts"][0]["context"]["namespace"] == "team"
    data = base64.b64decode(config["users"][0]["user"]["client-certificate-data"])
    assert x509.load_pem_x509_certificate(data) == new
    events = [entry["event"] for entry in ledger_lines(isolated)]
    assert events == ["issued", "renewed"]


def test_renew_changes_groups_and_rekeys(signing_ca, isolated, capsys):
    create(capsys, signing_ca, "alice", "dev")
    old = cert_of(isolated, "alice")
    result = run_here(
        capsys, "renew", "alice", "-g", "ops", "-g", "sre", "--rekey", *ca_args(signing_ca)
    )
    assert result.returncode == 0, result.stderr
    new = cert_of(isolated, "alice")
    assert [a.value for a in new.subject] == ["ops", "sre", "alice"]
    assert new.public_key() != old.public_key()


def test_renew_unknown_user_writes_nothing(signing_ca, isolated, capsys):
    result = run_here(capsys, "renew", "ghost", *ca_args(signing_ca))
    assert result.returncode == 2 and "cannot renew" in result.stderr
    assert not (isolated / "clients").exists()
