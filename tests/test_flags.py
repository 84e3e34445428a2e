"""Flags typed the way kubectl (pflag) takes them mean the same everywhere."""

import json
import shutil
import subprocess

import pytest
from cryptography import x509

from helpers import SERVER, run_here, tree


def run(capsys, *args):
    result = run_here(capsys, *args)
    return result.returncode, result.stdout, result.stderr


def create(capsys, ca, *args):
    return run(capsys, "create", "alice", "--key-type", "ecdsa", "--ca-cert", ca.cert_path, "--ca-key", ca.key_path,
               "--server", SERVER, *args)


@pytest.mark.parametrize("spelling", [
    ["-g=ops"], ["-g", "ops"], ["-gops"], ["--group=ops"], ["--group", "ops"], ["-qg=ops"], ["-qgops"]])
def test_every_spelling_of_a_flag_means_the_same(capsys, signing_ca, isolated, spelling):
    code, out, err = create(capsys, signing_ca, *spelling, "-n=dev", "-o=json")
    assert code == 0, err
    record = json.loads(out)
    assert (record["spec"]["groups"], record["status"]["namespace"]) == (["ops"], "dev")
    cert = x509.load_pem_x509_certificate((isolated / "clients/alice/alice.crt").read_bytes())
    assert [a.value for a in cert.subject] == ["ops", "alice"]


@pytest.mark.parametrize("spelling", [["--group==ops"], ["-g==ops"], ["-g", "=ops"], ["--group", "=ops"]])
def test_a_value_starting_with_equals_never_reaches_a_certificate(capsys, signing_ca, isolated, spelling):
    code, _, err = create(capsys, signing_ca, *spelling)
    assert code == 2 and "'=ops' starts with '='" in err and "-g=ops" in err
    assert tree(isolated) == []


def test_the_last_of_a_repeated_flag_wins_and_booleans_take_true_or_false(capsys, signing_ca, isolated):
    code, out, err = create(capsys, signing_ca, "--days", "3", "--days=4", "--force=false", "-o", "json")
    assert code == 0, err
    record = json.loads(out)
    cert = x509.load_pem_x509_certificate((isolated / "clients/alice/alice.crt").read_bytes())
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 4
    code, _, err = create(capsys, signing_ca, "--force=false")
    assert code == 3 and "already exists" in err
    code, _, err = create(capsys, signing_ca, "--force=true", "-q")
    assert code == 0 and err == ""
    assert record["spec"]["user"] == "alice"


@pytest.mark.parametrize("args,message", [
    (["create", "alice", "--bogus"], "error: unknown flag: --bogus"),
    (["create", "alice", "--bogus=1"], "error: unknown flag: --bogus"),
    (["create", "alice", "-x"], "error: unknown shorthand flag: 'x' in -x"),
    (["create", "alice", "--days"], "error: flag needs an argument: --days"),
    (["create", "alice", "-n"], "error: flag needs an argument: 'n' in -n"),
    (["create", "alice", "--force=maybe"], 'error: invalid argument "maybe" for "--force" flag'),
    (["-v"], "error: unknown shorthand flag: 'v' in -v"),
    (["list", "-v"], "error: unknown shorthand flag: 'v' in -v"),
])
def test_flag_errors_are_one_line_with_a_hint(capsys, isolated, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    first, hint = err.splitlines()
    assert first.startswith(message) and hint.startswith("hint: see 'kubectl usercert")
    assert tree(isolated) == []


BOOLEANS = ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False",
            "yes", "no", "y", "on", "off", "tRUE", "FaLsE", "2", "", " true", "true "]


@pytest.mark.parametrize("value", BOOLEANS)
def test_booleans_take_what_kubectl_takes(capsys, isolated, value):
    """kubectl (pflag, strconv.ParseBool) is the oracle: its own boolean flag, given the same text."""
    kubectl = shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("needs kubectl")
    theirs = subprocess.run([kubectl, "config", "view", f"--raw={value}"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(isolated)}, stdin=subprocess.DEVNULL)
    code, _, err = run(capsys, "list", f"--quiet={value}")
    if theirs.returncode == 0:
        assert code == 0, err
        assert (err == "") == (value in ("1", "t", "T", "TRUE", "true", "True"))  # quiet, or 'No certificates found.'
    else:
        assert code == 2 and err.startswith(f'error: invalid argument "{value}" for "--quiet" flag'), err
        code, _, err = run(capsys, "list", "-q=" + value)
        assert code == 2 and err.startswith(f'error: invalid argument "{value}" for "-q" flag'), err


def test_version_is_a_long_flag_only(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("kubectl usercert ")
