"""The inputs that still cost a traceback (issue 18, item 6): a full disk under the lock file, a kubectl
answering JSON that is not Kubernetes objects, a stdout that is full, closed or not UTF-8. Each is one
`error:` line and a hint, or, where the tool can go on without what failed, a warning."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import EC, LAUNCHER, SERVER, ca_args, ledger_lines, run_here, tree


def refused(result, needle, code=1):
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert (
        "hint: " in result.stderr
        and "Traceback" not in result.stderr
        and "internal error" not in result.stderr
    )


def create(capsys, ca, user="alice", *args):
    return run_here(capsys, "create", user, *EC, *ca_args(ca), "--server", SERVER, *args)


def _cli(*args, stdout=subprocess.PIPE, env=None, shell_prefix=None):
    argv = [sys.executable, str(LAUNCHER), *map(str, args)]
    if shell_prefix:  # e.g. close stdout before the CLI starts, as `list >&-` does
        argv = ["sh", "-c", f'{shell_prefix} "$@"', "sh", *argv]
    return subprocess.run(
        argv, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, timeout=120
    )


@pytest.mark.parametrize("command", ["create", "renew", "revoke"])
def test_a_full_disk_when_the_lock_is_taken_is_one_line(
    capsys, signing_ca, isolated, monkeypatch, command
):
    if command != "create":
        assert create(capsys, signing_ca).returncode == 0
    before = tree(isolated)
    write = os.write

    def full_for_locks(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".lock"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(fd, data)

    monkeypatch.setattr(os, "write", full_for_locks)
    args = {
        "create": ["create", "alice", *EC, "--server", SERVER, *ca_args(signing_ca)],
        "renew": ["renew", "alice", *ca_args(signing_ca)],
        "revoke": ["revoke", "alice"],
    }[command]
    refused(run_here(capsys, *args), "the disk is full")
    assert tree(isolated) == before  # no lock file, no locks folder, nothing half-made


@pytest.mark.parametrize(
    "answer",
    [
        '{"items": 5}',
        '{"items": [{"metadata": "x"}]}',
        '{"items": ["x"]}',
        '{"items": [{"metadata": {"name": 5, "annotations": {"kubectl-usercert/user": "alice"}}}]}',
        '{"items": [{"metadata": {"annotations": "x"}}]}',
        '{"items": [{"roleRef": [], "metadata": {"annotations": '
        '{"kubectl-usercert/user": "alice"}}}]}',
    ],
)
def test_a_kubectl_answering_json_that_is_no_objects(
    capsys, signing_ca, isolated, tmp_path, monkeypatch, answer
):
    assert create(capsys, signing_ca).returncode == 0
    Path("admin.conf").write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": SERVER}}],
                "current-context": "ctx",
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "admin"}}],
                "users": [{"name": "admin", "user": {"token": "x"}}],
            }
        )
    )
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho '{answer}'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("USERCERT_KUBECTL", str(fake))
    said = "not a list of Kubernetes objects"
    for args in (["list"], ["inspect", "clients/alice/kubeconfig"]):
        result = run_here(capsys, *args, "--kubeconfig", "admin.conf")
        assert result.returncode == 0 and "bindings not shown: kubectl's answer" in result.stderr, (
            result.stderr
        )
        assert (
            said in result.stderr
            and "Traceback" not in result.stderr
            and "internal error" not in result.stderr
        )
    revoked = run_here(capsys, "revoke", "alice", "--kubeconfig", "admin.conf")
    assert (
        revoked.returncode == 1
        and said in revoked.stderr
        and "internal error" not in revoked.stderr
    )
    assert ledger_lines()[-1]["event"] == "revoked"  # revoked here; the bindings are said to remain
    roster = "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: t}\nspec: {users: [{name: carol}]}\n"
    Path("team.yaml").write_text(roster)
    refused(run_here(capsys, "apply", "-f", "team.yaml", "--kubeconfig", "admin.conf"), said)


def test_a_full_stdout_is_one_line(signing_ca, isolated, capsys):
    assert create(capsys, signing_ca).returncode == 0
    with open("/dev/full", "w") as full:
        result = _cli("list", "-o", "json", stdout=full)
    err = result.stderr.decode()
    assert (
        result.returncode == 1 and "error: cannot write the output: No space left on device" in err
    ), err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_a_closed_stdout_is_an_error_not_silence(signing_ca, isolated, capsys):
    assert create(capsys, signing_ca).returncode == 0
    for args in (["list"], ["list", "-o", "json"]):
        result = _cli(*args, shell_prefix="exec >&-;")
        err = result.stderr.decode()
        assert (
            result.returncode == 1 and "error: cannot write the output: stdout is closed" in err
        ), err
        assert "hint: " in err and "Traceback" not in err
    # -o with nowhere to write is refused before anything is done
    lines = Path("clients/.usercert/ledger.jsonl").read_text()
    created = _cli(
        "create",
        "bob",
        *EC,
        "--server",
        SERVER,
        *ca_args(signing_ca),
        "-o",
        "json",
        shell_prefix="exec >&-;",
    )
    assert created.returncode == 1 and b"stdout is closed" in created.stderr
    assert (
        Path("clients/.usercert/ledger.jsonl").read_text() == lines
        and not Path("clients/bob").exists()
    )
    # a file the run opens never takes the closed stdout's place (the ledger's lines stay whole)
    assert (
        _cli(
            "create", "bob", *EC, "--server", SERVER, *ca_args(signing_ca), shell_prefix="exec >&-;"
        ).returncode
        == 0
    )
    assert all(
        line.startswith("{")
        for line in Path("clients/.usercert/ledger.jsonl").read_text().splitlines()
    )
    assert len(ledger_lines()) == 2


def test_any_stdout_encoding_writes_utf_8_data(signing_ca, isolated):
    Path("team.yaml").write_text(
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: t}\n"
        "spec:\n  defaults: {keyType: ecdsa}\n  users:\n  - {name: bøb, groups: [dév]}\n",
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    applied = _cli("apply", "-f", "team.yaml", "--server", SERVER, *ca_args(signing_ca), env=env)
    assert applied.returncode == 0, applied.stderr.decode()
    assert (
        "bøb" in applied.stdout.decode("utf-8") and "internal error" not in applied.stderr.decode()
    )
    listed = _cli("list", "-o", "json", env=env)
    assert listed.returncode == 0 and json.loads(listed.stdout.decode("utf-8"))["items"][0]["spec"][
        "groups"
    ] == ["dév"]
    table = _cli("list", env=dict(env, PYTHONIOENCODING="latin-1:strict"))
    assert table.returncode == 0 and "bøb" in table.stdout.decode("utf-8"), table.stderr.decode()


def test_a_csr_status_of_the_wrong_shape_is_asked_again(tmp_path, signing_ca):
    import base64
    from datetime import timedelta

    import pki
    from kubectl_usercert.cluster.kubectl import KubectlResult
    from kubectl_usercert.pki.keys import KeySpec
    from kubectl_usercert.pki.signers.cluster_csr import ClusterCSRSigner

    cert, _ = pki.make_client_cert(signing_ca, tmp_path, "alice", ["dev"], filename_stem="issued")
    issued = json.dumps({"status": {"certificate": base64.b64encode(cert.read_bytes()).decode()}})
    answers = {
        "create": ["x"],
        "delete": [""],
        "get": [
            '{"status": 5}',
            '{"status": {"conditions": 5}}',
            '{"status": {"conditions": ["x", 5]}}',
            issued,
        ],
    }
    asked = []

    class Answering:
        def run(self, args, text=None):
            asked.append(args[0])
            replies = answers[args[0]]
            return KubectlResult(0, replies.pop(0) if len(replies) > 1 else replies[0], "")

        def checked(self, args, what, text=None, hints=None):
            return self.run(args, text)

    signer = ClusterCSRSigner(Answering(), "alice", wait_seconds=30, sleep=lambda _s: None)
    signer.sign(
        str(cert), KeySpec("ecdsa"), timedelta(hours=1), str(tmp_path), str(tmp_path / "c.crt")
    )
    assert (tmp_path / "c.crt").read_bytes().startswith(
        b"-----BEGIN CERTIFICATE-----"
    ) and asked.count("get") == 4
