"""`kubectl usercert credential`, the kubectl credential plugin `import --exec` writes, without a
cluster: the ExecCredential it prints from the store, what it refuses (a hostile or damaged store,
an expired certificate) in one line with nothing on stdout, that it loads none of plumbum, rich
or yaml, and the background renewal it starts when due: one at a time, paced after a failure."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from helpers import LAUNCHER, run_cli, run_here, run_launcher
from person_homes import FAULTY_CLI, files_holding, key_forms
from test_person import bundle_with, certificate_for, kubeconfig, own_kubeconfig, request, store

NAME = "bob@kubernetes"
EXEC = {
    "apiVersion": "client.authentication.k8s.io/v1",
    "command": "kubectl-usercert",
    "args": ["credential", "--credential", NAME],
    "interactiveMode": "Never",
    "provideClusterInfo": False,
}


def folder():
    return store() / "credentials" / NAME


def state():
    return json.loads((folder() / "state.json").read_text())


def edit_state(**changes):
    (folder() / "state.json").write_text(json.dumps({**state(), **changes}))


def plugin(*args):
    """The plugin as kubectl runs it: a process of its own (it starts the renewal as another)."""
    return run_launcher("credential", "--credential", NAME, *args, timeout=30)


def imported(capsys, isolated, signing_ca, tmp_path, *args, days=1):
    own_kubeconfig()
    request(capsys, "bob", "dev")
    cert = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"], days=days)
    done = run_here(capsys, "import", bundle_with(tmp_path / "bundle", cert), "--exec", *args)
    assert done.returncode == 0, done.stderr
    return cert


def refused(result, code, *said):
    """One line on stderr, nothing on stdout, never a traceback."""
    assert result.returncode == code and result.stdout == "", result
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    for words in said:
        assert words in result.stderr, result.stderr


def test_import_exec_writes_the_plugin_and_it_answers_from_the_store(
    capsys, isolated, signing_ca, tmp_path
):
    cert_pem = imported(capsys, isolated, signing_ca, tmp_path)
    config = yaml.safe_load(kubeconfig().read_text())
    user = next(u["user"] for u in config["users"] if u["name"] == NAME)
    assert user == {"exec": EXEC}  # no certificate, no key in the kubeconfig
    assert state()["renewBefore"] == "8h"  # a third of the day it lasts (a day and 5 minutes)

    answer = plugin()
    assert answer.returncode == 0 and answer.stderr == "", answer.stderr
    credential = json.loads(answer.stdout)
    assert credential["apiVersion"] == EXEC["apiVersion"] and credential["kind"] == "ExecCredential"
    status = credential["status"]
    cert = x509.load_pem_x509_certificate(status["clientCertificateData"].encode())
    key = serialization.load_pem_private_key(status["clientKeyData"].encode(), None)
    assert (
        cert.public_key() == key.public_key()
        and status["clientCertificateData"].encode() == cert_pem
    )
    expires = datetime.strptime(status["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert expires.replace(tzinfo=timezone.utc) == cert.not_valid_after_utc - timedelta(hours=8)
    assert not (folder() / "renewal.log").exists()  # nothing due: nothing started

    # kubectl's own spellings of the flag, and the version client-go asks for
    spelled = run_cli("credential", f"--credential={NAME}")
    assert json.loads(spelled.stdout) == credential
    beta = dict(
        os.environ,
        KUBERNETES_EXEC_INFO=json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1"}),
    )
    older = run_cli("credential", "--credential", NAME, env=beta)
    assert json.loads(older.stdout)["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    unknown = dict(os.environ, KUBERNETES_EXEC_INFO=json.dumps({"apiVersion": "v9"}))
    refused(
        run_cli("credential", "--credential", NAME, env=unknown),
        2,
        "client.authentication.k8s.io/v1",
    )
    refused(run_cli("credential"), 2, "--credential USER@CLUSTER")
    refused(
        run_cli("credential", "--credential", "alice@kubernetes"),
        2,
        'no credential "alice@kubernetes"',
    )


@pytest.mark.cost(5)
def test_the_certificate_lives_in_state_json_and_cert_pem_is_a_copy(
    capsys, isolated, signing_ca, tmp_path
):
    """One file is the credential (replaced in one step: never a certificate with another's key);
    cert.pem is a copy the plugin never reads, brought up to date by the next run that opens the
    store; a store from before (the certificate only in cert.pem) still answers."""
    cert_pem = imported(capsys, isolated, signing_ca, tmp_path)
    assert state()["certificate"].encode() == cert_pem == (folder() / "cert.pem").read_bytes()
    answer = json.loads(plugin().stdout)["status"]
    (folder() / "cert.pem").write_text("a copy a killed run left behind\n")
    assert json.loads(plugin().stdout)["status"] == answer
    old = folder() / ".state.json.abcd1234.tmp"  # a half-written state a killed run left
    old.write_text("{")
    os.utime(old, (time.time() - 120, time.time() - 120))
    assert run_here(capsys, "request", "carol").returncode == 0  # (any run that opens the store)
    assert (folder() / "cert.pem").read_bytes() == cert_pem and not old.exists()
    _legacy(cert_pem)
    assert json.loads(plugin().stdout)["status"] == answer


def test_renew_before_is_recorded_and_checked(capsys, isolated, signing_ca, tmp_path):
    imported(capsys, isolated, signing_ca, tmp_path, "--renew-before", "2h")
    assert state()["renewBefore"] == "2h"
    request(capsys, "bob", "dev", "--force")
    cert = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"], days=1)
    too_long = run_here(
        capsys,
        "import",
        bundle_with(tmp_path / "b2", cert),
        "--exec",
        "--force",
        "--renew-before",
        "2d",
    )
    assert (
        too_long.returncode == 2
        and "not shorter than the certificate's lifetime" in too_long.stderr
    )


def test_the_plugin_loads_no_plumbum_rich_or_yaml(capsys, isolated, signing_ca, tmp_path):
    """Through the launcher as kubectl runs it, and through cli.main (the installed script)."""
    imported(capsys, isolated, signing_ca, tmp_path)
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", str(LAUNCHER), "credential", "--credential", NAME],
        capture_output=True,
        text=True,
    )
    assert traced.returncode == 0 and json.loads(traced.stdout)["kind"] == "ExecCredential"
    loaded = {line.split("|")[-1].strip() for line in traced.stderr.splitlines() if "|" in line}
    assert "kubectl_usercert.cli.credential" in loaded
    assert not {name for name in loaded if name.split(".")[0] in ("plumbum", "rich", "yaml")}
    code = (
        "import sys; from kubectl_usercert import cli\n"
        f"try:\n    cli.main(['kubectl-usercert', 'credential', '--credential', {NAME!r}])\n"
        "except SystemExit:\n    pass\n"
        "sys.stderr.write(repr(sorted(m for m in sys.modules if m.split('.')[0] in ('plumbum', 'rich', 'yaml'))))"
    )
    installed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(LAUNCHER.parent / "lib")),
    )
    assert installed.stderr == "[]" and json.loads(installed.stdout)["kind"] == "ExecCredential"


@pytest.mark.parametrize(
    "spoil, code, said",
    [
        (lambda: (folder() / "state.json").write_text("{not json"), 1, "state.json is damaged"),
        (
            lambda: (folder() / "state.json").write_bytes(b"\xff\xfe" * 10),
            1,
            "state.json is damaged",
        ),
        (lambda: edit_state(keyFingerprint="../../etc/passwd"), 1, "state.json is damaged"),
        (lambda: edit_state(keyFingerprint=["x"]), 1, "state.json is damaged"),
        (lambda: edit_state(notAfter="tomorrow"), 1, "notAfter 'tomorrow' is not a time"),
        (lambda: edit_state(notAfter=None), 1, "is not a time"),
        (lambda: (folder() / "state.json").write_text("[1, 2]"), 1, "state.json is damaged"),
        (
            lambda: edit_state(fingerprintSHA256="AB:CD"),
            1,
            "is not the one its state.json describes",
        ),
        (lambda: edit_state(certificate="garbage\n"), 1, "is not the one its state.json"),
        (lambda: edit_state(certificate=["x"]), 1, "is not the one its state.json"),
        (lambda: edit_state(certificate="é"), 1, "is not the one its state.json"),
        (lambda: _legacy(b"garbage\n"), 1, "is not the one its state.json describes"),
        (lambda: _key().write_text("not a key"), 1, "is not a PEM private key"),
        (lambda: _key().chmod(0o644), 2, "is open to others (mode 0644)"),
        (lambda: (store() / "keys").chmod(0o755), 2, "is open to others (mode 0755)"),
        (lambda: folder().chmod(0o777), 2, "is open to others (mode 0777)"),
        (lambda: store().chmod(0o777), 2, "is open to others (mode 0777)"),
        (lambda: _legacy(None) or _relink(folder() / "cert.pem"), 2, "cert.pem is a symbolic link"),
        (lambda: _relink(folder() / "state.json"), 2, "state.json is a symbolic link"),
        (lambda: _relink(_key()), 2, ".key is a symbolic link"),
        (lambda: _relink(folder()), 2, "is a symbolic link"),
        (lambda: _key().unlink(), 2, ".key does not exist"),
        (lambda: os.chown(folder() / "state.json", 65534, 65534), 2, "is owned by uid 65534"),
        (
            lambda: _legacy(None) or os.chown(folder() / "cert.pem", 65534, 65534),
            2,
            "is owned by uid 65534",
        ),
        (lambda: os.chown(_key(), 65534, 65534), 2, "is owned by uid 65534"),
        (lambda: os.chown(folder(), 65534, 65534), 2, "is owned by uid 65534"),
        (lambda: (folder() / "state.json").write_bytes(b" " * (2 << 20)), 2, "larger than 1 MiB"),
    ],
)
def test_a_hostile_or_damaged_store_is_one_line_and_nothing_on_stdout(
    capsys, isolated, signing_ca, tmp_path, spoil, code, said
):
    imported(capsys, isolated, signing_ca, tmp_path)
    spoil()
    refused(plugin(), code, said)


def _legacy(cert_pem):
    """The credential as a store from before kept it: state.json without the certificate, which is
    in cert.pem (replaced by `cert_pem` unless None)."""
    old = state()
    old.pop("certificate")
    (folder() / "state.json").write_text(json.dumps(old))
    if cert_pem is not None:
        (folder() / "cert.pem").write_bytes(cert_pem)


def _key():
    return store() / "keys" / f"{state()['keyFingerprint']}.key"


def _relink(path):
    """`path` replaced by a link to a copy of it elsewhere (what someone planting files does)."""
    moved = path.with_name(path.name + ".elsewhere")
    path.rename(moved)
    path.symlink_to(moved)


def test_an_expired_certificate_says_what_to_do(capsys, isolated, signing_ca, tmp_path):
    imported(capsys, isolated, signing_ca, tmp_path)
    edit_state(notAfter="2020-01-01T00:00:00Z")
    refused(
        plugin(),
        1,
        f"the certificate of {NAME} expired at 2020-01-01T00:00:00Z",
        "kubectl usercert request bob dev",
        "import kubeconfig --exec",
    )
    assert not (folder() / "renewal.log").exists()  # an expired certificate cannot renew itself


def test_a_due_renewal_starts_once_in_the_background(capsys, isolated, signing_ca, tmp_path):
    """Ten kubectl calls at once, with the renewal due: each answers at once with the current
    certificate, one renewal starts (the lock), and after it fails the next waits (renewal.json)."""
    imported(capsys, isolated, signing_ca, tmp_path)
    edit_state(renewBefore="2d")  # due now
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: plugin(), range(10)))
    for answer in answers:
        assert answer.returncode == 0 and answer.stderr == "", answer.stderr
        expires = json.loads(answer.stdout)["status"]["expirationTimestamp"]
        left = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert left - datetime.now(timezone.utc) <= timedelta(seconds=61)  # ask again soon
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        written = folder() / "renewal.json"
        record = json.loads(written.read_text()) if written.exists() else {}
        if record.get("outcome") == "failed":
            break
        time.sleep(0.2)
    # (the cluster of this bundle is nobody's: the renewal fails, and says why)
    assert record["outcome"] == "failed" and record["failures"] == 1, record
    assert record["retryAfter"] > record["finishedAt"]
    assert plugin().returncode == 0
    log = (folder() / "renewal.log").read_text()
    assert log.count("starting the renewal") == 1, log
    assert (folder() / "renewal.log").stat().st_mode & 0o777 == 0o600
    assert not files_holding([folder()], key_forms(_key())), "a key in the log or record"


def test_the_renewals_files_are_never_trusted_or_followed(capsys, isolated, signing_ca, tmp_path):
    """A garbage renewal.json paces nothing, a renewal.log that is a link is never written through,
    and a renewal.lock that is a link starts no renewal; the answer is the same ExecCredential."""
    imported(capsys, isolated, signing_ca, tmp_path)
    edit_state(renewBefore="2d")
    elsewhere = tmp_path / "elsewhere.log"
    elsewhere.write_text("")
    (folder() / "renewal.log").symlink_to(elsewhere)
    (folder() / "renewal.json").write_bytes(b"\xff{[")
    answer = plugin()
    assert answer.returncode == 0 and json.loads(answer.stdout)["kind"] == "ExecCredential"
    assert elsewhere.read_text() == ""
    (folder() / "renewal.log").unlink()
    (folder() / "renewal.lock").unlink(missing_ok=True)
    _wait_until_ended()
    (folder() / "renewal.json").unlink(missing_ok=True)
    (folder() / "renewal.lock").unlink(missing_ok=True)
    (folder() / "renewal.lock").symlink_to(tmp_path / "planted.lock")
    answer = plugin()
    assert answer.returncode == 0 and json.loads(answer.stdout)["kind"] == "ExecCredential"
    assert not (tmp_path / "planted.lock").exists() and not (folder() / "renewal.log").exists()


def test_a_renewal_that_cannot_even_start_is_paced_too(capsys, isolated, signing_ca, tmp_path):
    """The kubeconfig it was imported into is gone: the renewal fails before it files anything, and
    still says when the plugin may try again (not on every kubectl call)."""
    imported(capsys, isolated, signing_ca, tmp_path)
    edit_state(renewBefore="2d")
    kubeconfig().unlink()
    assert plugin().returncode == 0
    _wait_until_ended()
    record = json.loads((folder() / "renewal.json").read_text())
    assert record["outcome"] == "failed" and "kubeconfig" in record["message"], record
    assert plugin().returncode == 0
    time.sleep(1)
    assert (folder() / "renewal.log").read_text().count("starting the renewal") == 1


def _wait_until_ended():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        written = folder() / "renewal.json"
        try:
            if json.loads(written.read_text()).get("outcome") == "failed":
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)


def test_renew_self_knows_a_credential_the_plugin_serves(capsys, isolated, signing_ca, tmp_path):
    """renew --self finds it (by context, or --credential), and never runs two renewals at once."""
    imported(capsys, isolated, signing_ca, tmp_path)
    sys.path.insert(0, str(LAUNCHER.parent / "lib"))
    from kubectl_usercert.store import credential_files

    lock = credential_files.try_lock(str(folder()))
    try:
        busy = run_here(capsys, "renew", "--self", "--credential", NAME)
        assert busy.returncode == 1 and "a renewal of bob@kubernetes is running" in busy.stderr
        also = run_here(capsys, "renew", "--self", "--context", NAME)
        assert also.returncode == 1 and "is running already" in also.stderr
    finally:
        os.close(lock)
    wrong = run_here(capsys, "renew", "--self", "--credential", "alice@kubernetes")
    assert wrong.returncode == 2 and 'no credential "alice@kubernetes"' in wrong.stderr
    admins = run_here(capsys, "renew", "bob", "--exec")
    assert admins.returncode == 2 and "--exec is for --self" in admins.stderr
    assert Path(kubeconfig()).stat().st_mode & 0o777 == 0o600


@pytest.mark.cost(14)
def test_an_import_killed_at_any_change_leaves_a_working_credential(
    capsys, isolated, signing_ca, tmp_path
):
    """import --exec of a new certificate (a new key) over the credential, killed (SIGKILL) just
    before each change it makes to a file, or on a full disk from each write on: the plugin answers
    with the old certificate or the new one, each with its own key, never a refusal."""
    old_pem = imported(capsys, isolated, signing_ca, tmp_path)
    request(capsys, "bob", "dev", "--force")
    new_pem = certificate_for(isolated / "bob.csr", signing_ca, "bob", ["dev"], days=1)
    bundle = bundle_with(tmp_path / "new", new_pem)

    def importing(fault, count=None):
        environment = dict(os.environ, USERCERT_TEST_FAULT=fault)
        if count:
            environment["USERCERT_TEST_FAULT_COUNT"] = str(count)
        return subprocess.run(
            [*FAULTY_CLI, "import", str(bundle), "--exec"],
            capture_output=True,
            text=True,
            env=environment,
            cwd=isolated,
            timeout=60,
        )

    def served():
        answer = plugin()
        assert answer.returncode == 0 and answer.stderr == "", answer.stderr
        status = json.loads(answer.stdout)["status"]
        cert = x509.load_pem_x509_certificate(status["clientCertificateData"].encode())
        key = serialization.load_pem_private_key(status["clientKeyData"].encode(), None)
        assert cert.public_key() == key.public_key()
        return status["clientCertificateData"].encode()

    def back_to_the_old():
        old = state()
        old.update(
            certificate=old_pem.decode(),
            keyFingerprint=before["keyFingerprint"],
            fingerprintSHA256=before["fingerprintSHA256"],
        )
        (folder() / "state.json").write_text(json.dumps(old))
        (folder() / "cert.pem").write_bytes(old_pem)

    before = state()
    count = tmp_path / "count"
    assert importing("none:0", count).returncode == 0
    changes, writes = map(int, count.read_text().split())
    assert served() == new_pem
    seen = []
    for fault in [f"kill:{at}" for at in range(1, changes + 1)] + [
        f"full:{at}" for at in range(1, writes + 1)
    ]:
        back_to_the_old()
        assert served() == old_pem
        done = importing(fault)
        assert "Traceback" not in done.stderr, done.stderr
        seen.append(served())
    assert set(seen) == {old_pem, new_pem}
