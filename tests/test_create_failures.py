"""Bad input: one-line error with a hint, a non-zero exit, and nothing written."""

import datetime
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import pki
from helpers import LAUNCHER, SERVER, run_cli, run_here, tree
from kubectl_usercert.commands.create import CreateRequest
from kubectl_usercert.commands.create import create as create_credential
from kubectl_usercert.errors import UsercertError
from kubectl_usercert.pki.keys import KeySpec
from kubectl_usercert.pki.signers import SignerOptions


def create(capsys, *args):
    """create in this process (no child environment matters to these refusals)."""
    return run_here(capsys, "create", *args, "--server", SERVER, "--key-type", "ecdsa")


def assert_refused(result, code, needle, isolated):
    assert result.returncode == code, result.stderr
    assert needle in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(isolated) == []


def test_existing_output_is_kept_unless_force(signing_ca, isolated, capsys):
    ca = ["--ca-cert", signing_ca.cert_path, "--ca-key", signing_ca.key_path]
    assert create(capsys, "alice", *ca).returncode == 0
    before = (isolated / "clients/alice/alice.crt").read_bytes()
    result = create(capsys, "alice", *ca)
    assert (
        result.returncode == 3 and "already exists" in result.stderr and "--force" in result.stderr
    )
    assert (isolated / "clients/alice/alice.crt").read_bytes() == before
    assert create(capsys, "alice", *ca, "--force").returncode == 0
    assert (isolated / "clients/alice/alice.crt").read_bytes() != before
    assert sorted(os.listdir(isolated / "clients")) == [
        ".usercert",
        "alice",
    ]  # no staging or backup folders


def test_system_masters_refused_and_explained(signing_ca, isolated, capsys):
    result = create(
        capsys,
        "bob",
        "system:masters",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        signing_ca.key_path,
    )
    assert_refused(result, 2, "bypasses RBAC", isolated)
    assert "--allow-system-masters" in result.stderr


def test_other_system_groups_warn(signing_ca, capsys):
    result = create(
        capsys,
        "bob",
        "system:nodes",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        signing_ca.key_path,
    )
    assert result.returncode == 0 and "system group" in result.stderr


@pytest.mark.parametrize("user", ["", " alice", "al\nice"])
def test_bad_names(signing_ca, isolated, user, capsys):
    result = create(
        capsys, user, "--ca-cert", signing_ca.cert_path, "--ca-key", signing_ca.key_path
    )
    assert_refused(result, 2, "user name", isolated)


def test_not_a_ca(signing_ca, isolated, tmp_path, capsys):
    leaf_cert, leaf_key = pki.make_client_cert(signing_ca, tmp_path / "leaf", "someone")
    result = create(capsys, "alice", "--ca-cert", leaf_cert, "--ca-key", leaf_key)
    assert_refused(result, 2, "not a CA certificate", isolated)


def test_mismatched_key(signing_ca, isolated, tmp_path, capsys):
    other = pki.make_ca(tmp_path / "other", "other-ca")
    result = create(capsys, "alice", "--ca-cert", signing_ca.cert_path, "--ca-key", other.key_path)
    assert_refused(result, 2, "does not belong", isolated)


def test_expired_ca(isolated, tmp_path, capsys):
    now = datetime.datetime.now(datetime.timezone.utc)
    old = pki.make_ca(
        tmp_path / "old",
        "old-ca",
        not_before=now - datetime.timedelta(days=10),
        not_after=now - datetime.timedelta(days=1),
    )
    result = create(capsys, "alice", "--ca-cert", old.cert_path, "--ca-key", old.key_path)
    assert_refused(result, 2, "expired", isolated)


def test_unreadable_ca(isolated, tmp_path, capsys):
    result = create(
        capsys, "alice", "--ca-cert", tmp_path / "nope.crt", "--ca-key", tmp_path / "nope.key"
    )
    assert_refused(result, 2, "cannot read the CA certificate", isolated)


def test_half_a_ca_pair(signing_ca, isolated, capsys):
    result = create(capsys, "alice", "--ca-cert", signing_ca.cert_path)
    assert_refused(result, 2, "go together", isolated)


def test_no_ca_found_lists_where_it_looked(isolated, capsys):
    result = create(capsys, "alice")
    assert_refused(result, 2, "/etc/kubernetes/pki/ca.{crt,key}", isolated)
    assert "k3s/server/tls/client-ca" in result.stderr


def test_missing_openssl(signing_ca, isolated, tmp_path):
    bin_dir = tmp_path / "bin-without-openssl"
    bin_dir.mkdir()
    env = dict(os.environ, PATH=str(bin_dir))  # what it finds on PATH is all it has
    result = run_cli(
        "create",
        "alice",
        "--ca-cert",
        signing_ca.cert_path,
        "--ca-key",
        signing_ca.key_path,
        "--server",
        SERVER,
        "--key-type",
        "ecdsa",
        env=env,
    )
    assert_refused(result, 4, "openssl was not found", isolated)


def test_bad_switch_is_one_line_not_a_help_page(isolated, capsys):
    result = run_here(capsys, "create", "alice", "--bogus")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "error: unknown flag: --bogus"
    assert result.stdout == ""


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, UsercertError])
def test_failure_mid_way_leaves_no_trace(signing_ca, isolated, interrupt):
    def progress(message):
        if message.startswith("Signing"):
            raise interrupt("stop") if interrupt is UsercertError else interrupt()

    request = CreateRequest(
        user="alice",
        out_dir=str(isolated / "clients"),
        key=KeySpec("ecdsa"),
        signing=SignerOptions(ca_cert=str(signing_ca.cert_path), ca_key=str(signing_ca.key_path)),
        server=SERVER,
    )
    with pytest.raises(interrupt):
        create_credential(request, progress)
    assert tree(isolated) == []


def test_failed_force_keeps_the_previous_credential(signing_ca, isolated):
    request = CreateRequest(
        user="alice",
        out_dir=str(isolated / "clients"),
        key=KeySpec("ecdsa"),
        signing=SignerOptions(ca_cert=str(signing_ca.cert_path), ca_key=str(signing_ca.key_path)),
        server=SERVER,
    )
    create_credential(request)
    before = sorted(tree(isolated))
    request = replace(request, force=True)

    def fail(message):
        if message.startswith("Checking"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_credential(request, fail)
    assert sorted(tree(isolated)) == before


def live_processes_in_group(pgid):
    """The processes of group `pgid` still running (zombies aside), where /proc tells."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields after "(comm)": state, ppid, pgrp
            found.append(stat_file.parent.name)
    return found


def test_ctrl_c_exits_130_and_leaves_no_trace(signing_ca, isolated):
    process = subprocess.Popen(
        [
            sys.executable,
            str(LAUNCHER),
            "create",
            "alice",
            "--key-size",
            "8192",
            "--server",
            SERVER,
            "--ca-cert",
            str(signing_ca.cert_path),
            "--ca-key",
            str(signing_ca.key_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    clients = isolated / "clients"
    deadline = time.monotonic() + 30
    # The staging folder is there while openssl still makes the 8192-bit key (seconds, in the
    # background, into a pipe): Ctrl-C where a user presses it, in the slow step.
    while not any(clients.glob(".alice.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert tree(isolated) == []
    if Path("/proc/self/stat").exists():
        assert live_processes_in_group(process.pid) == [], "openssl was left running"
