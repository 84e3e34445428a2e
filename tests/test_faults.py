"""Nothing lost, nothing leaked: faults, full disks, signals and concurrency (issue 11, items 1-8).

Each test provokes one fault the way it happens to users (parallel runs, a disk that fills, a
signal at a given step, a folder changed by hand) and checks what is left on disk, in the ledger
and in the cluster."""

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509

import pki
from helpers import (
    EC,
    SERVER,
    ca_args,
    cli_json,
    ledger_lines,
    run_cli,
    run_here,
    run_launcher,
    start_launcher,
    tree,
    user_cert,
)
from kubectl_usercert.cluster import rbac
from kubectl_usercert.store import files

CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")


def create_here(capsys, ca, user, *args):
    return run_here(capsys, "create", user, *EC, *ca_args(ca), "--server", SERVER, *args)


def start(*args):
    return start_launcher(*args)


def pending_csr(cluster):
    return cluster.server.wait_for(
        lambda: next((c["metadata"]["name"] for c in cluster.server.list(*CSR)), None),
        what="a CertificateSigningRequest",
    )


# 1. A failed or cancelled run removes only what it staged


@pytest.mark.cost(5)
def test_a_failed_run_keeps_what_others_wrote_into_the_out_dir_it_made(live_cluster, isolated):
    waiting = start("create", "alice", "--signer", "csr", "--wait", "4s", *EC, "--out-dir", "team")
    pending_csr(live_cluster)  # alice's run made team/ and is waiting for an approval nobody gives
    bob = run_cli("create", "bob", "dev", *EC, *live_cluster.ca_args, "--out-dir", "team")
    assert bob.returncode == 0, bob.stderr
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 1 and "the request was withdrawn" in err
    assert sorted(os.listdir("team")) == [".usercert", "bob"]
    assert [e["user"] for e in ledger_lines("team")] == ["bob"]
    assert user_cert("bob", "team").subject.rfc4514_string() == "CN=bob,O=dev"


def test_ten_parallel_creates_of_one_user_into_a_new_out_dir(signing_ca, isolated):
    # ten processes at once (run_launcher): what one process holds, the others do not
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(
            pool.map(
                lambda _: run_launcher(
                    "create",
                    "same",
                    *EC,
                    *ca_args(signing_ca),
                    "--server",
                    SERVER,
                    "--out-dir",
                    "new",
                ),
                range(10),
            )
        )
    codes = sorted(r.returncode for r in results)
    assert codes == [0] + [3] * 9, [r.stderr for r in results]
    assert all("Traceback" not in r.stderr and "internal error" not in r.stderr for r in results)
    assert all("already exists" in r.stderr for r in results if r.returncode == 3)
    assert sorted(os.listdir("new")) == [".usercert", "same"]
    assert [e["user"] for e in ledger_lines("new")] == ["same"]


def test_folders_made_at_the_same_moment_by_many_workers_are_no_error(tmp_path):
    # apply's workers all make the out-dir when it is new: one that looked just as another made it
    # once took the new folder for a file.
    for attempt in range(100):
        target = tmp_path / str(attempt) / "clients"
        with ThreadPoolExecutor(max_workers=8) as pool:
            made = list(pool.map(lambda _, target=target: files.ensure_dir(str(target)), range(8)))
        assert target.is_dir() and sum(len(folders) for folders in made) <= 2


# 2. A full disk: complete and flushed, or nothing


def _regular(fd):
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def test_a_disk_that_fills_mid_write_leaves_nothing(capsys, signing_ca, isolated, monkeypatch):
    write, budget = (
        os.write,
        {"left": 1800},
    )  # the CSR, the profile and the certificate fit; the kubeconfig not

    def filling(fd, data):
        if not _regular(fd):
            return write(fd, data)
        if budget["left"] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = write(fd, bytes(data[: budget["left"]]))
        budget["left"] -= written
        return written

    monkeypatch.setattr(os, "write", filling)
    result = create_here(capsys, signing_ca, "alice")
    assert result.returncode == 1 and "the disk is full" in result.stderr, result.stderr
    assert tree(isolated) == []


def test_short_writes_are_completed(capsys, signing_ca, isolated, monkeypatch):
    write = os.write
    with monkeypatch.context() as patched:
        patched.setattr(
            os,
            "write",
            lambda fd, data: write(fd, bytes(data[:100])) if _regular(fd) else write(fd, data),
        )
        assert create_here(capsys, signing_ca, "alice", "-n", "team").returncode == 0
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
    assert (
        config["current-context"] == "alice@kubernetes"
        and config["contexts"][0]["context"]["namespace"] == "team"
    )
    assert [e["user"] for e in ledger_lines()] == ["alice"]


# 3. The ledger: a fresh line for each entry, a failed append rolled back


def test_a_line_left_unfinished_never_swallows_the_next(capsys, signing_ca, isolated):
    assert create_here(capsys, signing_ca, "alice").returncode == 0
    revoked_ledger = Path("clients/.usercert/ledger.jsonl")
    with open(revoked_ledger, "a") as ledger:
        ledger.write('{"event": "issued", "user": "bro')  # a crash or a full disk, mid-line
    assert run_here(capsys, "revoke", "alice").returncode in (
        0,
        1,
    )  # no cluster: recorded, bindings not looked up
    with open(revoked_ledger, "a") as ledger:
        ledger.write('{"event": "iss')
    assert create_here(capsys, signing_ca, "bob").returncode == 0
    bob = user_cert("bob")
    from cryptography.hazmat.primitives import hashes

    found = cli_json("whois", bob.fingerprint(hashes.SHA256()).hex())
    assert [m["user"] for m in found["status"]["matches"]] == ["bob"]
    listing = cli_json("list")
    assert {i["spec"]["user"]: i["status"]["state"] for i in listing["items"]} == {
        "alice": "revoked",
        "bob": "valid",
    }
    assert len(listing["warnings"]) == 2 and all(
        "ledger.jsonl line" in w for w in listing["warnings"]
    )


def test_a_failed_append_is_rolled_back_and_the_folder_too(
    capsys, signing_ca, isolated, monkeypatch
):
    assert create_here(capsys, signing_ca, "alice").returncode == 0
    before = Path("clients/.usercert/ledger.jsonl").read_bytes()
    write = os.write

    def ledger_fills(fd, data):
        if _regular(fd) and os.path.realpath(f"/proc/self/fd/{fd}").endswith("ledger.jsonl"):
            write(fd, bytes(data[:10]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(fd, data)

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", ledger_fills)
        result = create_here(capsys, signing_ca, "bob")
    assert result.returncode == 1 and "cannot write the ledger" in result.stderr
    assert Path("clients/.usercert/ledger.jsonl").read_bytes() == before
    assert sorted(os.listdir("clients")) == [
        ".usercert",
        "alice",
    ]  # no credential without its record


# 4. The move and the ledger line are one step; the message says what was done


def test_a_signal_between_move_and_ledger_waits_for_the_ledger(
    capsys, signing_ca, isolated, monkeypatch
):
    move = files._move_into_place

    def move_then_signal(*args):
        done = move(*args)
        os.kill(os.getpid(), signal.SIGTERM)
        return done

    monkeypatch.setattr(files, "_move_into_place", move_then_signal)
    result = create_here(capsys, signing_ca, "alice")
    assert result.returncode == 143
    assert "interrupted (SIGTERM) after it wrote clients/alice" in result.stderr
    assert [e["user"] for e in ledger_lines()] == ["alice"] and os.path.isdir("clients/alice")


def test_a_signal_as_the_staging_folder_is_made_leaves_no_folder(
    capsys, signing_ca, isolated, monkeypatch
):
    # The window a Ctrl-C hits when it comes as the staging folder appears (the flaky CI failure of
    # test_ctrl_c_exits_130_and_leaves_no_trace): the folder exists, its name is not yet held.
    made = tempfile.mkdtemp

    def mkdtemp_then_signal(*args, **kwargs):
        path = made(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp_then_signal)
    result = create_here(capsys, signing_ca, "alice")
    assert result.returncode == 130 and "interrupted (SIGINT): nothing was written" in result.stderr
    assert tree(isolated) == []


def test_nothing_was_written_only_when_nothing_was(capsys, signing_ca, isolated, monkeypatch):
    from kubectl_usercert.operations import issue as issuance

    signed = issuance.request_signed

    def signal_while_signing(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return signed(*args, **kwargs)

    monkeypatch.setattr(issuance, "request_signed", signal_while_signing)
    result = create_here(capsys, signing_ca, "alice")
    assert result.returncode == 130 and "interrupted (SIGINT): nothing was written" in result.stderr
    assert tree(isolated) == []


def test_a_credential_left_unrecorded_is_adopted_by_the_next_run(capsys, signing_ca, isolated):
    assert create_here(capsys, signing_ca, "alice").returncode == 0
    os.unlink(
        "clients/.usercert/ledger.jsonl"
    )  # as a SIGKILL between the move and the line would leave it
    again = create_here(capsys, signing_ca, "alice")
    assert again.returncode == 3 and "now recorded in the ledger" in again.stderr
    [entry] = ledger_lines()
    assert (
        entry["event"] == "adopted" and int(entry["serial"], 16) == user_cert("alice").serial_number
    )


def test_revoke_interrupted_after_a_deletion_says_so_and_records_it(
    capsys, live_cluster, isolated, monkeypatch
):
    assert (
        run_cli("create", "bob", *EC, *live_cluster.ca_args, "--clusterrole", "view").returncode
        == 0
    )
    delete = rbac.delete

    def delete_then_signal(*args, **kwargs):
        delete(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(rbac, "delete", delete_then_signal)
    result = run_here(capsys, "revoke", "bob")
    assert result.returncode == 143
    assert "deleted ClusterRoleBinding usercert:bob:view" in result.stderr
    assert "nothing was written" not in result.stderr
    revoked = ledger_lines()[-1]
    assert revoked["event"] == "revoked" and revoked["bindingsRemoved"] == ["usercert:bob:view"]


# 5. SIGTERM and SIGHUP clean up like Ctrl-C; no key copies in the temporary folder; stale staging goes


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up(signing_ca, isolated, signum):
    process = start(
        "create", "alice", "--key-size", "8192", "--server", SERVER, *ca_args(signing_ca)
    )
    deadline = time.monotonic() + 30
    while not list(Path("clients").glob(".alice.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signum)  # the process alone, as kill and systemd do
    _, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signum, err
    assert f"interrupted ({signal.Signals(signum).name}): nothing was written" in err
    assert tree(isolated) == []


def test_sigterm_withdraws_a_pending_request(live_cluster, isolated):
    process = start("create", "alice", "--signer", "csr", "--wait", "60s", *EC)
    name = pending_csr(live_cluster)
    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    assert live_cluster.server.list(*CSR) == [], f"{name} is still pending"
    assert not Path("clients").exists()


def test_inspect_and_verify_copy_no_key_to_a_temporary_folder(
    capsys, signing_ca, isolated, monkeypatch
):
    assert create_here(capsys, signing_ca, "alice").returncode == 0

    def refused(*_args, **_kwargs):
        raise AssertionError("a temporary file was made")

    for name in ("mkdtemp", "mkstemp", "NamedTemporaryFile", "TemporaryDirectory", "TemporaryFile"):
        monkeypatch.setattr(tempfile, name, refused)
    assert run_here(capsys, "inspect", "clients/alice/kubeconfig").returncode == 0
    assert (
        run_here(capsys, "verify", "alice", "--request-timeout", "2s").returncode == 1
    )  # nobody listens


def test_the_next_run_clears_what_a_killed_run_left(capsys, signing_ca, isolated):
    assert create_here(capsys, signing_ca, "alice").returncode == 0
    stale = Path("clients/.bob.k1ll3d00.tmp")  # a SIGKILL while bob's key was being made
    stale.mkdir()
    (stale / "bob.key").write_text("a key nobody knows about")
    aside = Path("clients/.alice.k1ll3d00.old")  # a SIGKILL in the middle of create --force's swap
    aside.mkdir()
    os.rename("clients/alice", aside / "previous")
    assert create_here(capsys, signing_ca, "carol").returncode == 0
    assert sorted(os.listdir("clients")) == [".usercert", "alice", "carol"]
    assert user_cert("alice").subject.rfc4514_string() == "CN=alice"


# 6. renew trusts only a certificate this tool issued to this user


def test_renew_refuses_a_certificate_copied_into_the_folder(capsys, signing_ca, isolated, tmp_path):
    for user in ("bob", "carol"):
        assert create_here(capsys, signing_ca, user).returncode == 0
    before = tree(isolated)
    shutil.copy("clients/carol/carol.crt", "clients/bob/bob.crt")
    result = run_here(capsys, "renew", "bob", *ca_args(signing_ca))
    assert result.returncode == 2 and "is a certificate for 'carol', not 'bob'" in result.stderr
    foreign_ca = pki.make_ca(tmp_path / "other", "other-ca")
    pki.make_client_cert(foreign_ca, "clients/bob", "bob", [], filename_stem="bob", key_type="ec")
    result = run_here(capsys, "renew", "bob", *ca_args(signing_ca))
    assert (
        result.returncode == 2
        and "is not in the ledger, and this tool could not have issued it: it does not "
        "chain to the CA"
        in result.stderr
    )
    assert tree(isolated) == before and len(ledger_lines()) == 2


# 7. revoke from the ledger when the files are damaged, and without the cluster


def test_revoke_with_a_damaged_certificate_still_takes_access_away(live_cluster, isolated):
    assert (
        run_cli("create", "bob", *EC, *live_cluster.ca_args, "--clusterrole", "view").returncode
        == 0
    )
    serial = ledger_lines()[-1]["serial"]
    Path("clients/bob/bob.crt").write_text(
        "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"
    )
    result = run_cli("revoke", "bob", "-o", "json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)["status"]
    assert status["serial"] == serial and [b["name"] for b in status["bindingsRemoved"]] == [
        "usercert:bob:view"
    ]
    assert live_cluster.admin("get", "clusterrolebinding", "usercert:bob:view").returncode != 0
    assert not Path("clients/bob").exists() and ledger_lines()[-1]["event"] == "revoked"


def test_revoke_without_the_cluster_records_and_says_what_remains(live_cluster, isolated, tmp_path):
    assert (
        run_cli("create", "dan", *EC, *live_cluster.ca_args, "--clusterrole", "view").returncode
        == 0
    )
    dead = pki.write_kubeconfig(
        tmp_path / "dead", "https://127.0.0.1:9", live_cluster.server_ca.cert_path, None, None
    )
    offline = run_cli("revoke", "dan", "--kubeconfig", dead, "--request-timeout", "3s")
    assert (
        offline.returncode == 1
        and "Still to remove" in offline.stderr
        and "run revoke again" in offline.stderr
    )
    assert not Path("clients/dan").exists() and ledger_lines()[-1]["event"] == "revoked"
    again = run_cli("revoke", "dan")
    assert again.returncode == 0, again.stderr
    assert "revoked already" in again.stderr and "usercert:dan:view" in again.stderr
    assert [e["event"] for e in ledger_lines()] == ["issued", "revoked"]  # no second record
    assert live_cluster.admin("get", "clusterrolebinding", "usercert:dan:view").returncode != 0


# 8. Parallel renews of one user wait for each other


def test_parallel_renews_of_one_user_all_land_in_turn(signing_ca, isolated):
    # four processes at once (run_launcher), as four terminals run them
    assert run_cli("create", "alice", *EC, *ca_args(signing_ca), "--server", SERVER).returncode == 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda _: run_launcher("renew", "alice", *ca_args(signing_ca)), range(4))
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    entries = ledger_lines()
    assert [e["event"] for e in entries] == ["issued"] + ["renewed"] * 4
    for previous, entry in zip(
        entries, entries[1:]
    ):  # a chain: no renewal was lost or based on a stale one
        assert entry["previousSerial"] == previous["serial"]
    assert int(entries[-1]["serial"], 16) == user_cert("alice").serial_number
    kept = sorted(p.name for p in Path("clients/alice").glob("alice.*.crt"))
    assert len(kept) == 4
    assert (
        x509.load_pem_x509_certificate(
            Path("clients/alice/alice.crt").read_bytes()
        ).subject.rfc4514_string()
        == "CN=alice"
    )
