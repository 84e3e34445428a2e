"""State is trusted only when it is the runner's own (issue 17, items 3 and 6). Kubernetes cannot
revoke a client certificate, so what renew, apply and revoke decide from the out-dir is the access
control: a ledger or folder another user owns or can write is refused for decisions (as ssh refuses
a group-writable authorized_keys), no link out of the out-dir is followed, and --prune revokes only
what the roster and the ledger mean.

The tests run as root: "another user" is uid 65534 (nobody), or a group/other-writable mode."""

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

import pki
from helpers import EC, SERVER, ca_args, ledger_lines, run_cli, run_here, tree, user_cert

NOBODY = 65534
LEDGER = "clients/.usercert/ledger.jsonl"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def create(capsys, ca, user="alice", *args):
    result = run_here(capsys, "create", user, "dev", *EC, *ca_args(ca), "--server", SERVER, *args)
    assert result.returncode == 0, result.stderr
    return result


def refused(result, *needles, code=2):
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and all(needle in errors[0] for needle in needles), result.stderr
    assert (
        "hint: " in result.stderr
        and "Traceback" not in result.stderr
        and "internal error" not in result.stderr
    )


def organizations(cert):
    return [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def roster(path, *users):
    entries = "".join(f"\n  - {{name: {user}}}" for user in users) or " []"
    Path(path).write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: team}\n"
        f"spec:\n  defaults: {{keyType: ecdsa}}\n  users:{entries}\n"
    )
    return path


def request_for(user, groups, path):
    key = pki.new_key("ec")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
                + [x509.NameAttribute(NameOID.COMMON_NAME, user)]
            )
        )
        .sign(key, hashes.SHA256())
    )
    Path(path).write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


# 17.3: a local user plants a certificate for cluster-admins and a ledger line; root's renew must refuse


def test_renew_refuses_a_certificate_planted_in_an_out_dir_another_user_owns(
    capsys, signing_ca, isolated, tmp_path
):
    create(capsys, signing_ca)
    # The attacker owns the out-dir (it was made for them, or in a folder they could write)...
    for folder, _dirs, names in os.walk("clients"):
        for name in [folder] + [os.path.join(folder, n) for n in names]:
            os.chown(name, NOBODY, NOBODY)
    # ... and plants their own key, a certificate for kubeadm:cluster-admins, and a matching ledger line.
    attacker = pki.make_ca(tmp_path / "attacker", "attacker")
    cert, key = pki.make_client_cert(
        attacker, tmp_path / "attacker", "alice", ["kubeadm:cluster-admins"], filename_stem="alice"
    )
    shutil.copy(cert, "clients/alice/alice.crt")
    shutil.copy(key, "clients/alice/alice.key")
    planted = x509.load_pem_x509_certificate(Path(cert).read_bytes())
    with open(LEDGER, "a") as ledger:
        ledger.write(
            json.dumps(
                {
                    "event": "issued",
                    "user": "alice",
                    "groups": ["kubeadm:cluster-admins"],
                    "fingerprintSHA256": planted.fingerprint(hashes.SHA256()).hex(),
                }
            )
            + "\n"
        )
    lines = len(ledger_lines())

    result = run_here(capsys, "renew", "alice", *ca_args(signing_ca))
    refused(
        result, "the out-dir clients is owned by nobody (uid 65534), mode 0700", "must be yours"
    )
    assert (
        "hint: check what is in it, then: chown -R root clients && chmod -R go-w clients"
        in result.stderr
    )
    assert organizations(user_cert("alice")) == [
        "kubeadm:cluster-admins"
    ]  # still the planted one: nothing signed
    assert user_cert("alice").issuer != signing_ca.cert.subject and len(ledger_lines()) == lines


UNTRUSTED = {  # what another user could write, and what the error says of it
    "out-dir owned by nobody": (
        lambda: os.chown("clients", NOBODY, -1),
        "the out-dir clients is owned by nobody",
    ),
    "out-dir group-writable": (
        lambda: os.chmod("clients", 0o770),
        "the out-dir clients is writable by its group (mode 0770)",
    ),
    "records folder other-writable": (
        lambda: os.chmod("clients/.usercert", 0o707),
        "the records folder clients/.usercert is writable by others (mode 0707)",
    ),
    "ledger owned by nobody": (
        lambda: os.chown(LEDGER, NOBODY, -1),
        f"the ledger {LEDGER} is owned by nobody",
    ),
    "ledger group-writable": (
        lambda: os.chmod(LEDGER, 0o660),
        f"the ledger {LEDGER} is writable by its group",
    ),
    "user folder owned by nobody": (
        lambda: os.chown("clients/alice", NOBODY, -1),
        "the user folder clients/alice is owned by nobody",
    ),
    "user folder other-writable": (
        lambda: os.chmod("clients/alice", 0o703),
        "the user folder clients/alice is writable by others (mode 0703)",
    ),
    "certificate group-writable": (
        lambda: os.chmod("clients/alice/alice.crt", 0o664),
        "the file clients/alice/alice.crt is writable by its group (mode 0664)",
    ),
}
DECISIONS = {  # every command that decides from the out-dir's state
    "renew": lambda ca: ["renew", "alice", *ca_args(ca)],
    "revoke": lambda ca: ["revoke", "alice"],
    "apply --prune": lambda ca: [
        "apply",
        "-f",
        roster("team.yaml", "bob"),
        "--prune",
        *ca_args(ca),
        "--server",
        SERVER,
    ],
    "create --force": lambda ca: [
        "create",
        "alice",
        *EC,
        *ca_args(ca),
        "--server",
        SERVER,
        "--force",
    ],
    "create (adopts)": lambda ca: ["create", "alice", *EC, *ca_args(ca), "--server", SERVER],
    "sign": lambda ca: [
        "sign",
        "--csr",
        request_for("alice", [], "alice.csr"),
        "--user",
        "alice",
        *ca_args(ca),
        "--server",
        SERVER,
        "--force",
    ],
}


@pytest.mark.parametrize("command", DECISIONS)
@pytest.mark.parametrize("condition", UNTRUSTED)
def test_commands_that_decide_refuse_state_another_user_could_write(
    capsys, signing_ca, isolated, condition, command
):
    create(capsys, signing_ca)
    make_untrusted, says = UNTRUSTED[condition]
    make_untrusted()
    before, lines = tree("clients"), ledger_lines()
    refused(run_here(capsys, *DECISIONS[command](signing_ca)), says, "must be yours")
    assert tree("clients") == before and ledger_lines() == lines


@pytest.mark.parametrize(
    "condition", ["ledger owned by nobody", "out-dir group-writable", "user folder other-writable"]
)
def test_list_whois_and_inspect_go_on_with_a_warning(capsys, signing_ca, isolated, condition):
    created = json.loads(create(capsys, signing_ca, "alice", "-o", "json").stdout)
    make_untrusted, says = UNTRUSTED[condition]
    make_untrusted()
    listing = run_here(capsys, "list", "-o", "json")
    assert listing.returncode == 0 and f"warning: {says}" in listing.stderr, listing.stderr
    assert [item["spec"]["user"] for item in json.loads(listing.stdout)["items"]] == ["alice"]
    found = run_here(
        capsys, "whois", created["status"]["fingerprintSHA256"]
    )  # whois reads only the ledger
    assert found.returncode == 0 and (f"warning: {says}" in found.stderr) == (
        "user folder" not in condition
    )
    inspected = run_here(capsys, "inspect", "alice")
    assert inspected.returncode == 0 and f"warning: {says}" in inspected.stderr, inspected.stderr


def test_a_sticky_world_writable_folder_above_the_out_dir_is_fine(capsys, signing_ca, isolated):
    os.mkdir("shared")
    os.chmod("shared", 0o1777)  # as /tmp is
    create(capsys, signing_ca, "alice", "--out-dir", "shared/clients")
    renewed = run_here(
        capsys, "renew", "alice", *ca_args(signing_ca), "--out-dir", "shared/clients"
    )
    assert renewed.returncode == 0, renewed.stderr
    assert (
        run_here(capsys, "revoke", "alice", "--out-dir", "shared/clients").returncode == 1
    )  # no cluster: 1


# 17.6 (a): a prune against a roster with no users is refused, as kubectl refuses "no objects passed to apply"


@pytest.mark.parametrize(
    "source", ["/dev/null", "empty file", "stdin with nothing", "users: with nothing"]
)
def test_prune_refuses_a_roster_with_no_users(capsys, signing_ca, isolated, source):
    create(capsys, signing_ca)
    Path("empty.yaml").write_text("")
    Path("nobody.yaml").write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\n"
        "metadata: {name: team}\nspec: {users: }\n"
    )
    named = {
        "/dev/null": "/dev/null",
        "empty file": "empty.yaml",
        "stdin with nothing": "-",
        "users: with nothing": "nobody.yaml",
    }[source]
    result = run_cli("apply", "-f", named, "--prune", *ca_args(signing_ca), "--server", SERVER)
    refused(result, "no users passed to apply --prune: it would revoke every user of clients")
    assert os.path.isdir("clients/alice") and ledger_lines()[-1]["event"] == "issued"


# 17.6 (b): identity comes from the ledger and the certificate's subject, never from a stray folder


def test_a_stray_copy_of_a_certificate_does_not_keep_its_user_from_prune(
    capsys, signing_ca, isolated
):
    create(capsys, signing_ca, "alice")
    create(capsys, signing_ca, "bob")
    os.mkdir("clients/zed")
    shutil.copy("clients/alice/alice.crt", "clients/zed/zed.crt")
    result = run_cli(
        "apply",
        "-f",
        roster("team.yaml", "bob"),
        "--prune",
        *ca_args(signing_ca),
        "--server",
        SERVER,
        "-o",
        "json",
    )
    users = {user["name"]: user for user in json.loads(result.stdout)["status"]["users"]}
    assert users["alice"]["actions"] == ["prune"] and users["alice"]["outcome"] == "done", (
        result.stderr
    )
    assert "zed" not in users and not os.path.exists("clients/alice")
    said = "clients/zed/zed.crt is a certificate for 'alice', not for the user of its folder"
    assert said in result.stderr and said in json.loads(result.stdout)["status"]["warnings"][0]
    assert os.path.isfile("clients/zed/zed.crt")  # reported, left alone


# 17.6 (c): a user folder that is a link to another out-dir is never followed


@pytest.fixture
def linked_folder(capsys, signing_ca, isolated):
    """clients/bob (in this ledger) is a link to another out-dir's folder, with its private key."""
    create(capsys, signing_ca, "alice")
    create(capsys, signing_ca, "bob")
    create(capsys, signing_ca, "bob", "--out-dir", "other")
    shutil.rmtree("clients/bob")
    os.symlink(os.path.abspath("other/bob"), "clients/bob")
    return tree("other")


def test_prune_refuses_a_user_folder_that_links_out_of_the_out_dir(signing_ca, linked_folder):
    lines = ledger_lines()
    for _attempt in range(2):
        result = run_cli(
            "apply",
            "-f",
            roster("team.yaml", "alice"),
            "--prune",
            *ca_args(signing_ca),
            "--server",
            SERVER,
        )
        refused(
            result,
            "the user folder clients/bob is a symbolic link",
            "never follows a link out of its out-dir",
        )
    assert not os.path.exists("clients/.usercert/revoked") and tree("other") == linked_folder
    assert ledger_lines() == lines


def test_revoke_refuses_a_user_folder_that_links_out_of_the_out_dir(capsys, linked_folder):
    refused(run_here(capsys, "revoke", "bob"), "the user folder clients/bob is a symbolic link")
    assert os.path.islink("clients/bob") and tree("other") == linked_folder
    listing = run_here(capsys, "list")  # list only reports: it says so, and does not follow it
    assert listing.returncode == 0 and "clients/bob is a symbolic link" in listing.stderr
    os.unlink("clients/bob")  # as the hint says: then revoke works from the ledger
    revoked = run_here(capsys, "revoke", "bob")
    assert "is a symbolic link" not in revoked.stderr and ledger_lines()[-1]["event"] == "revoked"
    assert tree("other") == linked_folder


def test_an_archive_on_another_file_system_that_fills_up_is_refused_cleanly(
    capsys, signing_ca, isolated, monkeypatch
):
    create(capsys, signing_ca)
    rename, copy = os.rename, shutil.copyfile

    def cross_device(source, target, *args, **kwargs):
        if ".usercert/revoked/" in str(target) and not str(source).endswith(".partial"):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return rename(source, target, *args, **kwargs)

    def full(source, target, *args, **kwargs):
        if os.fspath(source).endswith(".key"):  # copytree hands over DirEntry objects
            raise OSError(errno.ENOSPC, "No space left on device")
        return copy(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", cross_device)
    monkeypatch.setattr(shutil, "copyfile", full)
    before = tree("clients/alice")
    refused(
        run_here(capsys, "revoke", "alice"),
        "cannot archive clients/alice",
        "No space left on device",
        code=1,
    )
    assert tree("clients/alice") == before and tree("clients/.usercert/revoked") == []
    assert ledger_lines()[-1]["event"] == "issued"
    monkeypatch.setattr(shutil, "copyfile", copy)  # space again: the copy works, whole
    run_here(capsys, "revoke", "alice")
    archived = tree("clients/.usercert/revoked")
    assert not os.path.exists("clients/alice") and any(
        name.endswith("alice.key") for name in archived
    )
    assert (
        not any(name.endswith(".partial") for name in archived)
        and ledger_lines()[-1]["event"] == "revoked"
    )
