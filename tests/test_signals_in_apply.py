"""A signal stops apply at once, and an interrupted demo leaves nothing (issue 18, item 7).

Real signals to a real process: apply while a kubectl check hangs (a fake kubectl that sleeps),
while a worker's kubectl hangs, during RSA-8192 keys; demo while its CA is being made. Each must end
within a few seconds (it took 30 to 50 before), exit 143, stop the children it started, and leave
nothing it had not finished."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import SERVER, ca_args, ledger_lines, start_launcher, tree

ROSTER = """apiVersion: usercert.kubectl.io/v1alpha1
kind: UserRoster
metadata: {{name: team}}
spec:
  defaults: {defaults}
  users: [{{name: bob}}, {{name: carol}}]
"""
ADMIN = """clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
users: [{name: u, user: {token: t}}]
"""


def start(*args, env):
    return start_launcher(*args, env=env)


def wait_for(found, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not found():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def stopped_within(process, seconds=5, signum=signal.SIGTERM):
    """Send `signum`; (exit code, stderr, how long it took), failing if it took `seconds` or more."""
    began = time.monotonic()
    process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    took = time.monotonic() - began
    assert took < seconds, f"took {took:.1f}s to stop"
    return process.returncode, err


def gone(pid):
    """The process `pid` has ended (it may take its new parent a moment to reap it)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)  # not left behind by the test either
    return False


def fake_kubectl(folder, hang_on):
    """kubectl that answers the bindings lookup, names roles as existing, and hangs (its pid in
    folder/hanging) on the call matching `hang_on`."""
    script = folder / "kubectl"
    script.write_text(f"""#!/bin/sh
case "$*" in
  {hang_on}) echo $$ > "{folder}/hanging"; exec sleep 120 ;;
  *clusterrolebindings.rbac*--all-namespaces*) echo '{{"items": []}}' ;;
  *"-o name"*) echo "clusterrole.rbac.authorization.k8s.io/view" ;;
esac
""")
    script.chmod(0o755)
    return dict(os.environ, USERCERT_KUBECTL=str(script))


@pytest.mark.parametrize("hang_on,written", [("*clusterroles.rbac*", []), ('*" apply "*', ["bob"])])
def test_sigterm_stops_a_hanging_kubectl_in_apply_at_once(
    signing_ca, isolated, tmp_path, hang_on, written
):
    Path("admin.conf").write_text(ADMIN)
    Path("team.yaml").write_text(ROSTER.format(defaults="{keyType: ecdsa, clusterRoles: [view]}"))
    env = fake_kubectl(tmp_path, hang_on)
    # one user at a time: bob is written and hangs binding, carol waits and never starts
    process = start(
        "apply",
        "-f",
        "team.yaml",
        "--kubeconfig",
        "admin.conf",
        *ca_args(signing_ca),
        "-j",
        "1",
        env=env,
    )
    wait_for((tmp_path / "hanging").exists, "kubectl hanging")
    code, err = stopped_within(process)
    assert code == 143, err
    assert gone(int((tmp_path / "hanging").read_text())), "the hanging kubectl was left running"
    if written:  # the bindings hung after the credentials were written: the message says so
        assert (
            "interrupted (SIGTERM) after it wrote clients/bob" in err
            and "nothing was written" not in err
        )
        assert sorted(e["user"] for e in ledger_lines()) == written
    else:
        assert "interrupted (SIGTERM): nothing was written" in err
        assert tree(isolated) == ["admin.conf", "team.yaml"]
    assert not [p for p in Path(".").rglob("*.tmp")], "a staging folder was left"


def test_sigterm_stops_rsa_8192_keys_in_apply_at_once(signing_ca, isolated):
    Path("team.yaml").write_text(ROSTER.format(defaults="{keyType: rsa, keySize: 8192}"))
    process = start(
        "apply",
        "-f",
        "team.yaml",
        "--server",
        SERVER,
        *ca_args(signing_ca),
        "-j",
        "2",
        env=dict(os.environ),
    )
    wait_for(lambda: len(list(Path("clients").glob(".*.tmp"))) == 2, "both keys being made")
    openssls = _children_named(process.pid, "openssl")
    code, err = stopped_within(process)
    assert code == 143 and "interrupted (SIGTERM): nothing was written" in err, err
    assert all(gone(pid) for pid in openssls)
    assert tree(isolated) == ["team.yaml"]


def _children_named(parent, name):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        command, rest = stat.split(") ", 1)
        if command.endswith(f"({name}") and int(rest.split()[1]) == parent:
            found.append(int(entry.name))
    return found


def test_an_interrupted_demo_removes_its_throwaway_ca(isolated, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    real = subprocess.run(
        ["sh", "-c", "command -v openssl"], capture_output=True, text=True
    ).stdout.strip()
    slow = tmp_path / "slow-openssl"  # the CA's key is written, then its certificate takes for ever
    slow.write_text(
        f'#!/bin/sh\ncase "$*" in *-x509*) exec sleep 120 ;; esac\nexec "{real}" "$@"\n'
    )
    slow.chmod(0o755)
    env = dict(os.environ, TMPDIR=str(scratch), USERCERT_OPENSSL=str(slow))
    for signum in (signal.SIGTERM, signal.SIGINT):
        process = start("demo", env=env)
        wait_for(lambda: list(scratch.glob("usercert-demo-*/ca.key")), "the demo's CA key")
        code, err = stopped_within(process, signum=signum)
        assert code == 128 + signum if signum != signal.SIGINT else code == 130, err
        assert f"interrupted ({signal.Signals(signum).name}): nothing was written" in err
        assert list(scratch.iterdir()) == [], "the throwaway CA was left behind"
    given = tmp_path / "given"
    process = start("demo", "--dir", given, env=env)
    wait_for((given / "ca.key").exists, "the demo's CA key")
    code, err = stopped_within(process)
    assert code == 143 and "nothing was written" in err and not given.exists()


def test_a_signal_during_an_import_is_an_interruption_not_an_internal_error(capsys):
    """A signal that comes while Python makes a class (a module being imported) reaches the funnel
    wrapped in RuntimeError("Error calling __set_name__"): it is still the signal's exit and message."""
    from kubectl_usercert import cli
    from kubectl_usercert.errors import Interrupted

    class Importing:
        @staticmethod
        def run(argv, exit=False):
            try:
                raise Interrupted("SIGTERM")
            except Interrupted as exc:
                raise RuntimeError("Error calling __set_name__ on '_Field' instance") from exc

    assert cli._funnel(Importing, ["kubectl-usercert", "create"]) == 143
    err = capsys.readouterr().err
    assert "internal error" not in err and "SIGTERM" in err, err
