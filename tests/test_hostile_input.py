"""Hostile or broken input gets one line and a hint, never a traceback, never a weaker kubeconfig, and
nothing written (issue 11, items 9-12). Most run in this process: no child is needed to refuse."""

import base64
import errno
import json
import os
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pki
from helpers import EC, SERVER, ca_args, ledger_lines, run_here, tree
from kubectl_usercert.pki.signers.cluster_csr import ClusterCSRSigner


def refused(result, needle, code=2):
    """One `error:` line (after any progress lines) saying `needle`, a hint, the exit code."""
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and needle in result.stderr, result.stderr
    assert (
        "hint: " in result.stderr
        and "Traceback" not in result.stderr
        and "internal error" not in result.stderr
    )


def admin_kubeconfig(path, cluster=None, **top):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "ctx",
        "clusters": [{"name": "c", "cluster": {"server": SERVER, **(cluster or {})}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "admin"}}],
        "users": [{"name": "admin", "user": {"token": "x"}}],
    }
    config.update(top)
    Path(path).write_text(yaml.safe_dump(config))
    return path


def create(capsys, ca, *args):
    return run_here(capsys, "create", "alice", *EC, *ca_args(ca), *args)


# 9. What used to end in a traceback


def test_out_dir_that_is_not_a_folder(capsys, signing_ca, isolated):
    os.symlink("nowhere", "dangling")
    refused(
        create(capsys, signing_ca, "--server", SERVER, "--out-dir", "dangling"),
        "which does not exist",
    )
    Path("a-file").write_text("mine\n")
    os.chmod("a-file", 0o644)
    refused(
        create(capsys, signing_ca, "--server", SERVER, "--out-dir", "a-file"),
        "is not a folder (a file)",
    )
    assert (
        stat.S_IMODE(os.stat("a-file").st_mode) == 0o644 and Path("a-file").read_text() == "mine\n"
    )
    assert sorted(os.listdir(".")) == ["a-file", "dangling"]


def test_out_dir_on_a_read_only_file_system(capsys, signing_ca, isolated, monkeypatch):
    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", path)

    monkeypatch.setattr(os, "mkdir", read_only)
    refused(create(capsys, signing_ca, "--server", SERVER, "--out-dir", "ro/clients"), "read-only")


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"\x00\x01\x02binary\xff\xfe", "not UTF-8"),
        (b"clusters: [\xff]\n", "not UTF-8"),
        (b"clusters:\n- name: c\n  cluster: oops\n", 'cluster "c" is not a mapping'),
        (b"contexts:\n- name: ctx\n  context: [1, 2]\n", 'context "ctx" is not a mapping'),
        (
            b"clusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority-data: 12345}\n",
            "not base64",
        ),
        (b"current-context: [a]\n", "current-context is list"),
        (b"clusters:\n- name: [c]\n  cluster: {server: 'https://x'}\n", "has no name"),
        (
            b"clusters:\n- name: c\n  cluster: {server: 'https://x', insecure-skip-tls-verify: 'false'}\n"
            b"contexts:\n- {name: ctx, context: {cluster: c}}\ncurrent-context: ctx\n",
            "not true or false",
        ),
        (b"clusters:\n- name: c\n  cluster: {server: 12345}\n", "server is int"),
        (b"clusters:\n- name: c\n  cluster: {server: [a, b]}\n", "server is list"),
        (
            b"clusters:\n- name: c\n  cluster: {server: 'https://x', tls-server-name: [a]}\n",
            "tls-server-name is list",
        ),
    ],
)
def test_kubeconfigs_kubectl_refuses_are_refused(capsys, signing_ca, isolated, content, needle):
    Path("admin.conf").write_bytes(content)
    refused(create(capsys, signing_ca, "--kubeconfig", "admin.conf"), needle)
    assert sorted(os.listdir(".")) == ["admin.conf"]


def test_a_yaml_alias_bomb_is_refused_not_expanded(capsys, signing_ca, isolated):
    levels = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"a{i}: &a{i} [{', '.join(['*a%d' % (i - 1)] * 9)}]" for i in range(1, 9)]
    Path("bomb.conf").write_text(
        "\n".join(levels) + "\nclusters:\n- name: c\n  cluster: {server: *a8}\n"
    )
    refused(create(capsys, signing_ca, "--kubeconfig", "bomb.conf"), "expands to too much data")


@pytest.mark.parametrize(
    "user_entry,needle",
    [
        (
            {"client-certificate": "missing.crt", "client-key": "missing.key"},
            "cannot read client-certificate",
        ),
        ({"client-certificate-data": "not base64!", "client-key-data": "x"}, "not base64 data"),
        ("string", 'user "u" is not a mapping'),
    ],
)
def test_a_broken_user_kubeconfig_is_one_line(capsys, isolated, user_entry, needle):
    config = {
        "clusters": [{"name": "c", "cluster": {"server": SERVER}}],
        "current-context": "x",
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": user_entry}],
    }
    Path("user.conf").write_text(yaml.safe_dump(config))
    for command in ("inspect", "verify"):
        refused(run_here(capsys, command, "user.conf"), needle)
    Path("clients/u").mkdir(parents=True)
    Path("clients/u/kubeconfig").write_text(yaml.safe_dump(config))
    Path("clients/u/u.crt").write_text("")
    result = run_here(capsys, "renew", "u", "--ca-cert", "nope", "--ca-key", "nope")
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (
            ["create", "alice", "--signer", "csr", "--wait", "99999999999d"],
            "longer than a hundred years",
        ),
        (["create", "alice", "--wait", "soon"], "is not a duration"),
        (["create", "alice", "--days", "0"], 'invalid argument "0" for "--days" flag'),
        (["create", "alice", "--key-type", "dsa"], 'invalid argument "dsa" for "--key-type" flag'),
        (["demo", "--dir", "/etc/passwd"], "is not a folder"),
        (["list", "--expiring", "-3d"], "is not a duration"),
    ],
)
def test_bad_values_are_one_line(capsys, isolated, args, needle):
    refused(run_here(capsys, *args), needle)
    assert tree(isolated) == []


def test_ledger_lines_of_the_wrong_types_are_reported_and_skipped(capsys, signing_ca, isolated):
    assert create(capsys, signing_ca, "--server", SERVER).returncode == 0
    with open("clients/.usercert/ledger.jsonl", "a") as ledger:
        for line in (
            '{"event": "issued", "user": ["x"]}',
            '{"event": "issued", "user": "y", "notAfter": 5}',
            '{"event": "issued", "user": "z", "notAfter": "garbage"}',
            "[1, 2]",
            "null",
            '"text"',
            '{"event": "exploded", "user": "w"}',
            "{" * 100000,
        ):
            ledger.write(line + "\n")
    listing = json.loads(run_here(capsys, "list", "-o", "json").stdout)
    assert [i["spec"]["user"] for i in listing["items"]] == ["alice"] and len(
        listing["warnings"]
    ) == 8
    assert run_here(capsys, "whois", "ab" * 32).returncode == 1


def test_a_ledger_that_is_a_folder(capsys, signing_ca, isolated):
    os.makedirs("clients/.usercert/ledger.jsonl")
    refused(run_here(capsys, "list"), "is not a file")
    refused(create(capsys, signing_ca, "--server", SERVER), "is not a file", code=1)
    assert not os.path.exists("clients/alice")


def test_renew_rekey_when_the_key_is_gone(capsys, signing_ca, isolated):
    assert create(capsys, signing_ca, "--server", SERVER).returncode == 0
    os.unlink("clients/alice/alice.key")
    refused(run_here(capsys, "renew", "alice", *ca_args(signing_ca)), "--rekey")
    assert run_here(capsys, "renew", "alice", "--rekey", *ca_args(signing_ca)).returncode == 0
    assert os.path.isfile("clients/alice/alice.key")


def test_revoke_when_the_records_are_on_another_file_system(
    capsys, signing_ca, isolated, monkeypatch
):
    assert create(capsys, signing_ca, "--server", SERVER).returncode == 0
    rename = os.rename

    def cross_device(source, target, *args, **kwargs):
        if ".usercert/revoked" in str(target) and not str(source).endswith(
            ".partial"
        ):  # the copy, beside it
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", cross_device)
    result = run_here(
        capsys, "revoke", "alice"
    )  # no kubeconfig here: the bindings remain to be looked up (exit 1)
    assert (
        result.returncode == 1
        and "Traceback" not in result.stderr
        and "Still to remove" in result.stderr
    )
    assert not os.path.exists("clients/alice") and ledger_lines()[-1]["event"] == "revoked"
    [archived] = os.listdir("clients/.usercert/revoked")
    assert os.path.isfile(f"clients/.usercert/revoked/{archived}/alice.crt")


def shim(folder, name, script):
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def test_an_openssl_that_answers_nothing(capsys, signing_ca, isolated, tmp_path, monkeypatch):
    fake = shim(
        tmp_path / "bin",
        "openssl",
        '[ "$1" = version ] && echo "OpenSSL 3.0.2 15 Mar 2022"\nexit 0\n',
    )
    monkeypatch.setenv("USERCERT_OPENSSL", str(fake))
    refused(create(capsys, signing_ca, "--server", SERVER), "openssl", code=2)
    assert tree(isolated) == []


def test_a_kubectl_that_answers_garbage(capsys, signing_ca, isolated, tmp_path, monkeypatch):
    admin_kubeconfig("admin.conf")
    monkeypatch.setenv(
        "USERCERT_KUBECTL", str(shim(tmp_path / "bin", "kubectl", "echo 'this is not json'\n"))
    )
    result = create(capsys, signing_ca, "--kubeconfig", "admin.conf", "--clusterrole", "view")
    refused(result, "not a JSON object", code=1)
    assert tree(isolated) == ["admin.conf"]
    monkeypatch.setenv("USERCERT_KUBECTL", str(shim(tmp_path / "bin", "kubectl", "exit 0\n")))
    assert create(capsys, signing_ca, "--kubeconfig", "admin.conf").returncode == 0
    listed = run_here(capsys, "list", "--kubeconfig", "admin.conf")
    assert listed.returncode == 0 and "bindings not shown" in listed.stderr


def test_no_field_holds_kubectl_s_own_words(capsys, signing_ca, isolated, tmp_path, monkeypatch):
    assert create(capsys, signing_ca, "--server", SERVER).returncode == 0
    admin_kubeconfig("admin.conf")
    prose = 'Error from server (Forbidden): rolebindings.rbac.authorization.k8s.io is forbidden: User "x" cannot'
    monkeypatch.setenv(
        "USERCERT_KUBECTL", str(shim(tmp_path / "bin", "kubectl", f"echo '{prose}' >&2\nexit 1\n"))
    )
    listed = json.loads(run_here(capsys, "list", "--kubeconfig", "admin.conf", "-o", "json").stdout)
    assert len(listed["warnings"]) == 1 and listed["warnings"][0].startswith(
        "bindings not shown: kubectl could not"
    )
    assert listed["warnings"][0].endswith(": not permitted (RBAC)")
    revoked = run_here(capsys, "revoke", "alice", "--kubeconfig", "admin.conf", "-o", "json")
    remaining = json.loads(revoked.stdout)["status"]["remaining"]
    assert remaining and "not permitted (RBAC)" in remaining[0]
    assert not any(
        "Error from server" in text or "cannot" in text for text in listed["warnings"] + remaining
    )
    assert "Error from server" not in revoked.stdout + json.dumps(listed)


# 12. The smaller ones


def test_certificates_are_never_writable_by_others(capsys, signing_ca, isolated):
    old = os.umask(0)
    try:
        assert create(capsys, signing_ca, "--server", SERVER).returncode == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat("clients/alice/alice.crt").st_mode) == 0o644


@pytest.mark.parametrize("content", [b"", b"garbage\n", "der"])
def test_ca_files_openssl_cannot_read_are_bad_input(
    capsys, signing_ca, isolated, tmp_path, content
):
    from cryptography.hazmat.primitives import serialization

    bad = tmp_path / "bad.crt"
    bad.write_bytes(
        signing_ca.cert.public_bytes(serialization.Encoding.DER) if content == "der" else content
    )
    refused(
        run_here(
            capsys,
            "create",
            "alice",
            *EC,
            "--ca-cert",
            bad,
            "--ca-key",
            signing_ca.key_path,
            "--server",
            SERVER,
        ),
        "could not read the CA certificate",
    )
    assert tree(isolated) == []


def test_sign_names_the_users_file_in_its_errors(capsys, signing_ca, isolated, tmp_path):
    garbage = tmp_path / "from-bob.csr"
    garbage.write_text(
        "-----BEGIN CERTIFICATE REQUEST-----\nbroken\n-----END CERTIFICATE REQUEST-----\n"
    )
    result = run_here(
        capsys, "sign", "--csr", garbage, "--user", "bob", *ca_args(signing_ca), "--server", SERVER
    )
    assert (
        result.returncode in (1, 2)
        and str(garbage) in result.stderr
        and "usercert-csr-" not in result.stderr
    )


class FakeKubectl:
    """kubectl answers for the CSR signer, one script per verb."""

    def __init__(self, answers):
        self.answers = {verb: list(replies) for verb, replies in answers.items()}
        self.calls = []

    def run(self, args, text=None):
        from kubectl_usercert.cluster.kubectl import KubectlResult

        self.calls.append(args[0])
        replies = self.answers[args[0]]
        code, out, err = replies.pop(0) if len(replies) > 1 else replies[0]
        return KubectlResult(code, out, err)

    def checked(self, args, what, text=None, hints=None):
        from kubectl_usercert.cluster.kubectl import failure

        result = self.run(args, text)
        if not result.ok:
            raise failure(what, result.stderr, hints)
        return result


def _signer(answers):
    signer = ClusterCSRSigner(FakeKubectl(answers), "alice", wait_seconds=30, sleep=lambda _s: None)
    return signer


@pytest.mark.parametrize(
    "stderr,hint",
    [
        (
            'Error from server (AlreadyExists): certificatesigningrequests "x" already exists',
            "exists already",
        ),
        (
            'The CertificateSigningRequest "x" is invalid: spec.usages: Unsupported value',
            "found the request invalid",
        ),
        (
            'Error from server (Forbidden): certificatesigningrequests is forbidden: User "u"',
            "you need 'create'",
        ),
    ],
)
def test_the_csr_hint_says_what_went_wrong(tmp_path, stderr, hint):
    from datetime import timedelta

    from kubectl_usercert.errors import UsercertError
    from kubectl_usercert.pki.keys import KeySpec

    csr = tmp_path / "r.csr"
    csr.write_bytes(b"request")
    signer = _signer({"create": [(1, "", stderr)], "delete": [(0, "", "")]})
    with pytest.raises(UsercertError) as raised:
        signer.sign(
            str(csr), KeySpec("ecdsa"), timedelta(hours=1), str(tmp_path), str(tmp_path / "c.crt")
        )
    assert hint in raised.value.hint


def test_a_failed_poll_does_not_end_the_wait_and_a_failed_withdrawal_is_reported(
    tmp_path, signing_ca
):
    from datetime import timedelta

    from cryptography.hazmat.primitives import serialization

    from kubectl_usercert.pki.keys import KeySpec

    cert, _ = pki.make_client_cert(signing_ca, tmp_path, "alice", ["dev"], filename_stem="issued")
    issued = base64.b64encode(cert.read_bytes()).decode()
    csr = tmp_path / "r.csr"
    csr.write_bytes(b"request")
    signer = _signer(
        {
            "create": [(0, "x", "")],
            "get": [
                (1, "", "dial tcp 10.0.0.1:6443: connection refused"),
                (0, "not json", ""),
                (0, json.dumps({"status": {"certificate": issued}}), ""),
            ],
            "delete": [(1, "", "Error from server (Forbidden): you may not delete")],
        }
    )
    signer.sign(
        str(csr), KeySpec("ecdsa"), timedelta(hours=1), str(tmp_path), str(tmp_path / "c.crt")
    )
    assert (tmp_path / "c.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert signer.kubectl.calls.count("get") == 3
    signer.withdraw()
    assert any(
        "could not withdraw" in note and "kubectl delete csr" in note for note in signer.notes
    )
    assert serialization  # (imported for symmetry with the other CSR tests)


# Anything at any field of a kubeconfig, anything on a ledger line


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_fields = st.sampled_from(
    [
        ("top", "clusters"),
        ("top", "contexts"),
        ("top", "users"),
        ("top", "current-context"),
        ("cluster", "server"),
        ("cluster", "certificate-authority-data"),
        ("cluster", "certificate-authority"),
        ("cluster", "insecure-skip-tls-verify"),
        ("cluster", "tls-server-name"),
        ("cluster", "proxy-url"),
        ("context", "cluster"),
        ("context", "user"),
        ("context", "namespace"),
        ("entry", "name"),
        ("entry", "cluster"),
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=_fields, value=_values)
@example(field=("cluster", "server"), value="\x7f")  # kubectl reads it, and cannot write it back
@example(field=("entry", "name"), value="c\x9f")
def test_anything_in_a_kubeconfig_is_an_error_line_or_works(
    capsys, signing_ca, isolated, field, value
):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "ctx",
        "clusters": [{"name": "c", "cluster": {"server": SERVER}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "admin"}}],
        "users": [{"name": "admin", "user": {}}],
    }
    where, key = field
    target = {
        "top": config,
        "cluster": config["clusters"][0]["cluster"],
        "context": config["contexts"][0]["context"],
        "entry": config["clusters"][0],
    }[where]
    target[key] = value
    Path("admin.conf").write_text(yaml.safe_dump(config))
    out = f"out-{uuid.uuid4().hex}"
    result = run_here(
        capsys,
        "create",
        "alice",
        *EC,
        *ca_args(signing_ca),
        "--kubeconfig",
        "admin.conf",
        "--out-dir",
        out,
    )
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    if result.returncode == 0:
        written = yaml.safe_load(Path(out, "alice", "kubeconfig").read_text())
        check = subprocess.run(
            ["kubectl", "config", "view", "--kubeconfig", f"{out}/alice/kubeconfig"],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, (written, check.stderr)  # never a kubeconfig kubectl refuses
    else:
        assert result.returncode == 2, result.stderr
        assert [line for line in result.stderr.splitlines() if line.startswith("error: ")], (
            result.stderr
        )
        assert not os.path.exists(out)


def test_a_server_kubectl_cannot_carry_is_refused(capsys, signing_ca, isolated):
    result = run_here(
        capsys, "create", "alice", *EC, *ca_args(signing_ca), "--server", "https://a\x85b\x7f"
    )
    assert result.returncode == 2 and "--server holds the character \\x7f" in result.stderr, (
        result.stderr
    )
    assert not os.path.exists("clients")


def test_only_what_is_copied_must_be_carried(capsys, signing_ca, isolated):
    # an odd character elsewhere in the admin's kubeconfig is kubectl's business, not a reason to refuse
    admin_kubeconfig(
        "admin.conf",
        contexts=[
            {"name": "ctx", "context": {"cluster": "c", "user": "admin"}},
            {"name": "other\x7f", "context": {"cluster": "c", "user": "admin"}},
        ],
    )
    assert create(capsys, signing_ca, "--kubeconfig", "admin.conf").returncode == 0
    admin_kubeconfig("odd.conf", cluster={"tls-server-name": "api\x9f"})
    refused(
        create(capsys, signing_ca, "--kubeconfig", "odd.conf", "--out-dir", "other"),
        "tls-server-name holds the character \\x9f",
        code=2,
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(st.one_of(_values.map(json.dumps), st.text(max_size=40)), max_size=4))
def test_anything_on_a_ledger_line_is_reported_or_read(capsys, isolated, lines):
    os.makedirs("clients/.usercert", exist_ok=True)
    Path("clients/.usercert/ledger.jsonl").write_text("\n".join(lines) + "\n")
    for args in (["list", "-o", "json"], ["whois", "ab" * 32], ["revoke", "nobody"]):
        result = run_here(capsys, *args)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr, (
            result.stderr
        )
        assert result.returncode in (0, 1, 2)
