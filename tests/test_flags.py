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
    return run(
        capsys,
        "create",
        "alice",
        "--key-type",
        "ecdsa",
        "--ca-cert",
        ca.cert_path,
        "--ca-key",
        ca.key_path,
        "--server",
        SERVER,
        *args,
    )


@pytest.mark.parametrize(
    "spelling",
    [
        ["-g=ops"],
        ["-g", "ops"],
        ["-gops"],
        ["--group=ops"],
        ["--group", "ops"],
        ["-qg=ops"],
        ["-qgops"],
    ],
)
def test_every_spelling_of_a_flag_means_the_same(capsys, signing_ca, isolated, spelling):
    code, out, err = create(capsys, signing_ca, *spelling, "-n=dev", "-o=json")
    assert code == 0, err
    record = json.loads(out)
    assert (record["spec"]["groups"], record["status"]["namespace"]) == (["ops"], "dev")
    cert = x509.load_pem_x509_certificate((isolated / "clients/alice/alice.crt").read_bytes())
    assert [a.value for a in cert.subject] == ["ops", "alice"]


@pytest.mark.parametrize(
    "spelling", [["--group==ops"], ["-g==ops"], ["-g", "=ops"], ["--group", "=ops"]]
)
def test_a_value_starting_with_equals_never_reaches_a_certificate(
    capsys, signing_ca, isolated, spelling
):
    code, _, err = create(capsys, signing_ca, *spelling)
    assert code == 2 and "'=ops' starts with '='" in err and "-g=ops" in err
    assert tree(isolated) == []


def test_the_last_of_a_repeated_flag_wins_and_booleans_take_true_or_false(
    capsys, signing_ca, isolated
):
    code, out, err = create(
        capsys, signing_ca, "--days", "3", "--days=4", "--force=false", "-o", "json"
    )
    assert code == 0, err
    record = json.loads(out)
    cert = x509.load_pem_x509_certificate((isolated / "clients/alice/alice.crt").read_bytes())
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 4
    code, _, err = create(capsys, signing_ca, "--force=false")
    assert code == 3 and "already exists" in err
    code, _, err = create(capsys, signing_ca, "--force=true", "-q")
    assert code == 0 and err == ""
    assert record["spec"]["user"] == "alice"


@pytest.mark.parametrize(
    "args,message",
    [
        (["create", "alice", "--bogus"], "error: unknown flag: --bogus"),
        (["create", "alice", "--bogus=1"], "error: unknown flag: --bogus"),
        (["create", "alice", "-x"], "error: unknown shorthand flag: 'x' in -x"),
        (["create", "alice", "--days"], "error: flag needs an argument: --days"),
        (["create", "alice", "-n"], "error: flag needs an argument: 'n' in -n"),
        (
            ["create", "alice", "--force=maybe"],
            'error: invalid argument "maybe" for "--force" flag',
        ),
        (["-v"], "error: unknown shorthand flag: 'v' in -v"),
        (["list", "-v"], "error: unknown shorthand flag: 'v' in -v"),
    ],
)
def test_flag_errors_are_one_line_with_a_hint(capsys, isolated, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    first, hint = err.splitlines()
    assert first.startswith(message) and hint.startswith("hint: see 'kubectl usercert")
    assert tree(isolated) == []


BOOLEANS = [
    "1",
    "t",
    "T",
    "TRUE",
    "true",
    "True",
    "0",
    "f",
    "F",
    "FALSE",
    "false",
    "False",
    "yes",
    "no",
    "y",
    "on",
    "off",
    "tRUE",
    "FaLsE",
    "2",
    "",
    " true",
    "true ",
]


@pytest.mark.parametrize("value", BOOLEANS)
def test_booleans_take_what_kubectl_takes(capsys, isolated, value):
    """kubectl (pflag, strconv.ParseBool) is the oracle: its own boolean flag, given the same text."""
    kubectl = shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("needs kubectl")
    theirs = subprocess.run(
        [kubectl, "config", "view", f"--raw={value}"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(isolated)},
        stdin=subprocess.DEVNULL,
    )
    code, _, err = run(capsys, "list", f"--quiet={value}")
    if theirs.returncode == 0:
        assert code == 0, err
        assert (err == "") == (
            value in ("1", "t", "T", "TRUE", "true", "True")
        )  # quiet, or 'No certificates found.'
    else:
        assert code == 2 and err.startswith(
            f'error: invalid argument "{value}" for "--quiet" flag'
        ), err
        code, _, err = run(capsys, "list", "-q=" + value)
        assert code == 2 and err.startswith(f'error: invalid argument "{value}" for "-q" flag'), err


@pytest.mark.parametrize("command", [[], ["create"], ["list"], ["apply"], ["help"]])
def test_help_command_is_the_help_flag(capsys, command):
    """`kubectl usercert help create` is `create --help`, and `help` alone is `--help`, as in kubectl."""
    assert run(capsys, "help", *command) == run(capsys, *command, "--help")
    code, out, _ = run(capsys, "help", *command)
    assert code == 0 and out.rstrip().endswith(
        "for more information about a command." if not command else "[options]"
    )


@pytest.mark.parametrize(
    "args,message,hint",
    [
        (
            ["help", "nosuch"],
            'unknown command "nosuch" for "kubectl usercert"',
            "see 'kubectl usercert --help'",
        ),
        (
            ["nosuch"],
            'unknown command "nosuch" for "kubectl usercert"',
            "see 'kubectl usercert --help'",
        ),
        (
            ["whois"],
            "accepts 1 arg(s), received 0",
            "usage: kubectl usercert whois X509SHA256=...|FINGERPRINT|SERIAL",
        ),
        (
            ["inspect", "a", "b"],
            "accepts 1 arg(s), received 2",
            "usage: kubectl usercert inspect USER|KUBECONFIG",
        ),
        (
            ["apply", "-f", "x.yaml", "extra"],
            'unknown command "extra" for "kubectl usercert apply"',
            "see 'kubectl usercert apply --help'",
        ),
        (
            ["help", "create", "list"],
            "accepts at most 1 arg(s), received 2",
            "usage: kubectl usercert help [COMMAND]",
        ),
        (["sign"], 'required flag(s) "csr", "user" not set', "see 'kubectl usercert sign --help'"),
        (["apply"], 'required flag(s) "filename" not set', "see 'kubectl usercert apply --help'"),
    ],
)
def test_argument_errors_say_what_kubectl_says(capsys, isolated, args, message, hint):
    """cobra's words for a wrong count of arguments or a missing flag, never a Python list."""
    code, out, err = run(capsys, *args)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"error: {message}", err.splitlines()[1]] and err.splitlines()[
        1
    ].startswith(f"hint: {hint}")
    assert "['" not in err and "[]" not in err


def test_version_is_a_long_flag_only(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("kubectl usercert ")
