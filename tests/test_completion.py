"""Completion: kubectl (1.26+) runs kubectl_complete-usercert on every TAB, so it answers from a table
generated from the CLI, without plumbum, rich or yaml; the answers through real kubectl."""

import os
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT, python_on_path
from kubectl_usercert.cli import completion
from kubectl_usercert.cli.applications import Main

sys.path.insert(
    0, str(ROOT / "dev")
)  # completion.json's generator is a development tool, outside the package
import completion_table  # noqa: E402

KUBECTL = shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl")
NO_FILES, FILES, DIRS, EXTENSIONS, NO_SPACE = 4, 0, 16, 8, 2


def test_the_table_is_what_the_cli_says():
    assert completion_table.table_text(completion.load_table()) == completion_table.table_text(
        completion_table.table_from_cli()
    ), "run: python3 dev/completion_table.py"


def test_completion_imports_no_plumbum_rich_or_yaml():
    code = (
        "import sys; from kubectl_usercert.cli import completion; completion.main(['create', '--key-t']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('plumbum', 'rich', 'yaml')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "lib")),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    assert result.stdout.startswith("--key-type\t")


def completions(result):
    """kubectl __complete's answer: the candidates (without their descriptions) and the directive."""
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line]
    assert lines and lines[-1].startswith(":"), result.stdout
    return [line.split("\t")[0] for line in lines[:-1]], int(lines[-1][1:])


@pytest.fixture
def completing(tmp_path):
    """Run `kubectl __complete usercert WORDS...` in a folder with users and a kubeconfig."""
    if KUBECTL is None:
        pytest.skip("needs kubectl")
    work = tmp_path / "completion"
    (work / "clients" / "alice").mkdir(parents=True)
    (work / "clients" / "bob%20smith").mkdir()
    (work / "clients" / "^carol").mkdir()
    (work / "clients" / ".dave.x1y2z3w4.tmp").mkdir()  # a create still in progress
    (work / "elsewhere" / "erin").mkdir(parents=True)
    (work / "admin.yaml").write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
        "clusters:\n- name: lab\n  cluster: {server: 'https://127.0.0.1:6443'}\n"
        "contexts:\n- name: dev\n  context: {cluster: lab, user: admin}\n"
        "- name: prod\n  context: {cluster: lab, user: admin}\n"
        "users:\n- name: admin\n  user: {}\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KUBECONFIG", "PYTHON"))
    }
    env.update(
        HOME=str(tmp_path / "home"),
        KUBECONFIG=str(work / "admin.yaml"),
        PATH=os.pathsep.join(
            [str(ROOT), str(python_on_path(tmp_path / "python")), "/usr/bin", "/bin"]
        ),
    )

    def complete(*words):
        return completions(
            subprocess.run(
                [KUBECTL, "__complete", "usercert", *words],
                env=env,
                cwd=work,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=60,
            )
        )

    return complete


@pytest.mark.parametrize(
    "words, expected",
    [
        (["cre"], (["create", "credential"], NO_FILES)),
        ([""], None),  # checked below: every subcommand
        (["create", "--ou"], (["--out-dir", "--output"], NO_FILES)),
        (["create", "--key-t"], (["--key-type"], NO_FILES)),
        (["create", "-"], None),  # checked below: long and short flags
        (["--"], (["--help", "--version"], NO_FILES)),
        (["create", "--force", "--fo"], ([], NO_FILES)),  # given once is enough
        (["create", "-g", "a", "--gr"], (["--group"], NO_FILES)),  # repeatable
        (["create", "--key-type", "e"], (["ecdsa", "ed25519"], NO_FILES)),
        (
            ["create", "--output=j"],
            (["json", "jsonpath="], NO_FILES),
        ),  # values alone: the shell keeps --output=
        (["create", "-o=y"], (["yaml"], NO_FILES)),
        (
            ["create", "--output=jsonp"],
            (["jsonpath="], NO_FILES | NO_SPACE),
        ),  # the template follows, no space
        (["list", "-o", ""], (["json", "jsonpath=", "name", "prometheus", "yaml"], NO_FILES)),
        (["list", "--output=p"], (["prometheus"], NO_FILES)),
        (["create", "--signer=c"], (["csr"], NO_FILES)),
        (["create", "--context", ""], (["dev", "prod"], NO_FILES)),
        (["create", "--context=p"], (["prod"], NO_FILES)),
        (["create", "--cluster", ""], (["lab"], NO_FILES)),
        (["create", ""], (["Carol", "alice", "bob smith"], NO_FILES)),
        (["create", "b"], (["bob smith"], NO_FILES)),
        (["create", "--out-dir", "elsewhere", ""], (["erin"], NO_FILES)),
        (["create", "alice", ""], ([], NO_FILES)),  # groups: nothing to offer
        (["create", "--ca-cert", ""], ([], FILES)),
        (["create", "--ca-key-passphrase-file", ""], ([], FILES)),
        (["create", "--from-file", ""], ([], FILES)),
        (["create", "--kubeconfig", ""], ([], FILES)),
        (["sign", "--csr", ""], ([], FILES)),
        (["list", "--textfile", ""], ([], FILES)),
        (["apply", "-f", ""], (["json", "yaml", "yml"], EXTENSIONS)),  # as kubectl's own -f
        (["apply", "--filename="], (["json", "yaml", "yml"], EXTENSIONS)),
        (["create", "--out-dir", ""], ([], DIRS)),
        (["demo", "--dir", ""], ([], DIRS)),
        (["list", ""], (["Carol", "alice", "bob smith"], NO_FILES)),
        (["list", "alice", "b"], (["bob smith"], NO_FILES)),
        (["help", "crea"], (["create"], NO_FILES)),
        (["help", "create", ""], ([], NO_FILES)),
        (["inspect", ""], (["Carol", "alice", "bob smith"], FILES)),  # a user, or a file
        (["sign", "--user", "a"], (["alice"], NO_FILES)),
        (["nosuch", ""], ([], NO_FILES)),
    ],
)
def test_kubectl_completes_through_the_helper(completing, words, expected):
    candidates, directive = completing(*words)
    if words == [""]:  # new subcommands appear by themselves
        assert (candidates, directive) == (sorted(Main("kubectl usercert")._subcommands), NO_FILES)
        assert "create" in candidates
    elif words == ["create", "-"]:
        assert {
            "--out-dir",
            "--key-type",
            "--context",
            "-g",
            "-o",
            "--help",
            "--request-timeout",
        } <= set(candidates)
        assert "--completions" not in candidates and "-v" not in candidates
        assert directive == NO_FILES
    else:
        assert (candidates, directive) == expected


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (
            ["apply", "-f", ""],
            ["apply", "-f", ""],
        ),  # a manifest file: kubectl filters on its extensions
        (["create", "--kubeconfig", ""], ["config", "view", "--kubeconfig", ""]),  # any file
        (["create", "--output="], ["get", "--output="]),  # values alone after --flag=
    ],
)
def test_answers_have_the_shape_of_kubectls_own(completing, ours, theirs):
    """kubectl's own completion of the same kind of flag is the oracle for the directive and the shape."""
    own = completions(
        subprocess.run(
            [KUBECTL, "__complete", *theirs],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
            stdin=subprocess.DEVNULL,
        )
    )
    candidates, directive = completing(*ours)
    assert directive == own[1]
    if ours[:2] == ["apply", "-f"]:
        assert candidates == own[0]
    assert not any(c.startswith("-") for c in candidates + own[0])


def test_completion_never_writes_to_the_terminal(tmp_path):
    """stderr reaches the user's prompt: a broken kubeconfig means no candidates, said nowhere."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("clusters: [unclosed\n")
    env = dict(
        os.environ,
        KUBECONFIG=str(broken),
        PATH=os.pathsep.join([str(python_on_path(tmp_path / "python")), "/usr/bin", "/bin"]),
    )
    result = subprocess.run(
        [ROOT / "kubectl_complete-usercert", "create", "--context", ""],
        env=env,
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, ":4\n", "")
