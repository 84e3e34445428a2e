"""Helpers every test module shares: the CLI as a process or in this process, reading what it wrote."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "kubectl-usercert"
SERVER = "https://127.0.0.1:6443"  # a server nobody needs to reach (no --verify, no RBAC)
EC = ["--key-type", "ecdsa"]  # quick keys where the key type does not matter


def ca_args(ca):
    return ["--ca-cert", str(ca.cert_path), "--ca-key", str(ca.key_path)]


def run_cli(*args, env=None, cwd=None, timeout=120):
    """The launcher as a user runs it, a separate process; the CompletedProcess."""
    return subprocess.run([sys.executable, str(LAUNCHER), *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, stdin=subprocess.DEVNULL, timeout=timeout)


def run_here(capsys, *args):
    """The CLI in this process, for what needs no child process (refusals, parsing): a CompletedProcess."""
    from kubectl_usercert import cli

    with pytest.raises(SystemExit) as exited:
        cli.main(["kubectl-usercert", *map(str, args)])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, exited.value.code, out, err)


def cli_json(*args, **kwargs):
    result = run_cli(*args, "-o", "json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def tree(path):
    """Every path below `path` (relative), for 'nothing was left behind' checks."""
    path = Path(path)
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def load_cert(path):
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def user_cert(user, out="clients"):
    return load_cert(Path(out) / user / f"{user}.crt")


def ledger_lines(out="clients"):
    path = Path(out) / ".usercert" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def whoami(cluster, kubeconfig, binary="kubectl"):
    """What the test API server says the kubeconfig's user is (through real kubectl)."""
    result = cluster.kubectl(kubeconfig, "auth", "whoami", "-o", "json", binary=binary)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["status"]["userInfo"]


def python_on_path(folder, executable=sys.executable):
    """A folder holding only `python3` that runs `executable` (what `#!/usr/bin/env python3` finds)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{executable}" "$@"\n')
    wrapper.chmod(0o755)
    return folder


def path_with(*folders):
    return os.pathsep.join([*map(str, folders), os.environ["PATH"]])
