"""install.sh and completion, for real: a throwaway HOME, pip, and kubectl finding the plugin on PATH.

install.sh runs with a PATH of only the link folder, a python3 and the system folders, so what it
leaves behind, or needs, is all in plain sight.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, tree
from kubectl_usercert.cli import Main

INSTALL = ROOT / "install.sh"
KUBECTL = shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl")
BASH = shutil.which("bash")
SYSTEM_PATH = ["/usr/bin", "/bin"]

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")


def base_python():
    """The interpreter behind this one, outside any virtualenv: what a fresh machine has."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def python_dir(folder, executable):
    """A folder holding only `python3`, running `executable` (a wrapper keeps a venv a venv)."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{executable}" "$@"\n')
    wrapper.chmod(0o755)
    return folder


def environment(home, path, **extra):
    """The machine's environment (pip's settings included) with our HOME and PATH, and nothing
    from outside that would steer Python, kubectl or the XDG folders."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "XDG_", "KUBECONFIG", "VIRTUAL_ENV", "USERCERT_"))}
    env.update(HOME=str(home), PATH=os.pathsep.join(map(str, path)), NO_COLOR="1")
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run(command, env, cwd=None, timeout=300):
    return subprocess.run([str(part) for part in command], env=env, cwd=cwd, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=timeout)


def completions(result):
    """kubectl __complete's answer: the candidates (without their descriptions) and the directive."""
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line]
    assert lines and lines[-1].startswith(":"), result.stdout
    return [line.split("\t")[0] for line in lines[:-1]], int(lines[-1][1:])


# install.sh


def test_install_reinstall_and_uninstall_leave_home_as_it_was(tmp_path):
    home = tmp_path / "user"
    (home / ".local" / "share" / "other-app").mkdir(parents=True)
    (home / ".local" / "share" / "other-app" / "data").write_text("not ours\n")
    (home / ".bashrc").write_text("# the user's\n")
    other_bin = home / "bin"
    other_bin.mkdir()
    (other_bin / "other-tool").write_text("#!/bin/sh\n")
    (other_bin / "other-tool").chmod(0o755)
    data_home = home / ".local" / "share"
    link_dir = home / ".local" / "bin"
    before = tree(home)

    pybin = python_dir(tmp_path / "python", base_python())
    env = environment(home, [link_dir, other_bin, pybin, *SYSTEM_PATH], XDG_DATA_HOME=data_home)
    first = run([BASH, INSTALL], env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Installed kubectl-usercert" in first.stdout
    venv = data_home / "kubectl-usercert" / "venv"
    for command in ("kubectl-usercert", "kubectl_complete-usercert"):
        link = link_dir / command
        assert link.is_symlink() and os.readlink(link) == str(venv / "bin" / command)

    # kubectl finds the plugin on PATH and runs it (kubectl gets a HOME of its own: whatever
    # it writes there is not the installer's doing).
    kubectl_env = environment(tmp_path / "kubectl-home", env["PATH"].split(os.pathsep))
    listed = run([KUBECTL, "plugin", "list"], kubectl_env)
    assert listed.returncode == 0, listed.stderr
    assert str(link_dir / "kubectl-usercert") in listed.stdout
    assert "warning" not in listed.stderr.lower(), listed.stderr
    helped = run([KUBECTL, "usercert", "--help"], kubectl_env)
    assert helped.returncode == 0, helped.stderr
    assert "kubectl usercert" in helped.stdout and "create" in helped.stdout
    assert completions(run([KUBECTL, "__complete", "usercert", "cr"], kubectl_env))[0] == ["create"]
    # The README's first command, and the main job as a new user would type it.
    demo = run([KUBECTL, "usercert", "demo", "--dir", tmp_path / "demo"], kubectl_env)
    assert demo.returncode == 0 and "On a real cluster" in demo.stderr, demo.stderr
    work = tmp_path / "first-user"
    work.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=kubernetes", "-days", "30",
                    "-addext", "basicConstraints=critical,CA:TRUE"], cwd=work, check=True, capture_output=True)
    made = run([KUBECTL, "usercert", "create", "alice", "dev", "--ca-cert", "ca.crt", "--ca-key", "ca.key",
                "--server", "https://127.0.0.1:6443"], kubectl_env, cwd=work)
    assert made.returncode == 0, made.stderr
    assert (work / "clients" / "alice" / "kubeconfig").stat().st_mode & 0o777 == 0o600

    # Re-running upgrades in place; here it also adds the test tools and moves the links.
    second = run([BASH, INSTALL, "--dev", "--prefix", other_bin], env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Creating a virtualenv" not in second.stdout
    assert not (link_dir / "kubectl-usercert").exists(), "the old links are gone"
    assert os.readlink(other_bin / "kubectl-usercert") == str(venv / "bin" / "kubectl-usercert")
    tools = run([venv / "bin" / "python", "-c", "import pytest, hypothesis, cryptography"], env)
    assert tools.returncode == 0, tools.stderr
    version = run([KUBECTL, "usercert", "--version"], kubectl_env)
    assert version.returncode == 0 and "0." in version.stdout, version.stderr

    removed = run([BASH, INSTALL, "--uninstall"], env)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert tree(home) == before
    assert (other_bin / "other-tool").exists()
    again = run([BASH, INSTALL, "--uninstall"], env)
    assert again.returncode == 0 and "not installed" in again.stdout


def test_install_refuses_to_replace_a_command_that_is_not_its_own(tmp_path):
    home = tmp_path / "user"
    link_dir = home / ".local" / "bin"
    link_dir.mkdir(parents=True)
    (link_dir / "kubectl-usercert").write_text("#!/bin/sh\necho someone else's\n")
    before = tree(home)
    env = environment(home, [python_dir(tmp_path / "python", base_python()), *SYSTEM_PATH])
    result = run([BASH, INSTALL], env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "error: ~/.local/bin/kubectl-usercert exists and is not ours"
    assert result.stderr.splitlines()[1].startswith("hint: ")
    assert tree(home) == before


def test_install_says_what_is_missing_in_one_line(tmp_path):
    home = tmp_path / "user"
    home.mkdir()
    pybin = python_dir(tmp_path / "python", base_python())
    tools = tmp_path / "tools"  # the commands install.sh needs before its checks, but no openssl
    tools.mkdir()
    for command in ("dirname",):
        (tools / command).symlink_to(shutil.which(command))

    no_openssl = run([BASH, INSTALL], environment(home, [pybin, tools]))
    assert no_openssl.returncode == 1
    assert no_openssl.stderr.splitlines() == [
        "error: openssl not found",
        "hint: install it (Debian/Ubuntu: apt install openssl; macOS: brew install openssl)"]

    old = tmp_path / "old-python"
    old.write_text('#!/bin/sh\ncase "$2" in *platform*) echo 3.8.10 ;; *) exit 1 ;; esac\n')
    old.chmod(0o755)
    old_python = run([BASH, INSTALL], environment(home, [pybin, *SYSTEM_PATH], PYTHON=old))
    assert old_python.returncode == 1
    first, hint = old_python.stderr.splitlines()
    assert first == f"error: Python 3.9 or newer is needed, {old} is 3.8.10"
    assert hint.startswith("hint: ")

    no_python = run([BASH, INSTALL], environment(home, [tools], PYTHON="python3"))
    assert no_python.returncode == 1
    assert no_python.stderr.startswith("error: python3 not found\nhint: ")

    unknown = run([BASH, INSTALL, "--frobnicate"], environment(home, SYSTEM_PATH))
    assert unknown.returncode == 1
    assert unknown.stderr.splitlines()[0] == "error: unknown option '--frobnicate'"
    helped = run([BASH, INSTALL, "--help"], environment(home, SYSTEM_PATH))
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: ./install.sh")
    assert tree(home) == []


# Completion through kubectl, with the checkout's launchers on PATH


@pytest.fixture
def completing(tmp_path):
    """Run `kubectl __complete usercert WORDS...` in a folder with users and a kubeconfig."""
    work = tmp_path / "completion"
    (work / "clients" / "alice").mkdir(parents=True)
    (work / "clients" / "bob%20smith").mkdir()
    (work / "clients" / ".carol.x1y2.tmp").mkdir()  # a create still in progress
    (work / "elsewhere" / "dave").mkdir(parents=True)
    (work / "admin.yaml").write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
        "clusters:\n- name: lab\n  cluster: {server: 'https://127.0.0.1:6443'}\n"
        "contexts:\n- name: dev\n  context: {cluster: lab, user: admin}\n"
        "- name: prod\n  context: {cluster: lab, user: admin}\n"
        "users:\n- name: admin\n  user: {}\n")
    pybin = python_dir(tmp_path / "python", sys.executable)  # this Python has the dependencies
    env = environment(tmp_path / "home", [ROOT, pybin, *SYSTEM_PATH], KUBECONFIG=work / "admin.yaml")

    def complete(*words):
        return completions(run([KUBECTL, "__complete", "usercert", *words], env, cwd=work))

    return complete


NO_FILES, FILES, DIRS = 4, 0, 16


@pytest.mark.parametrize("words, expected", [
    (["cr"], (["create"], NO_FILES)),
    ([""], None),  # checked below: every subcommand
    (["create", "--ou"], (["--out-dir", "--output"], NO_FILES)),
    (["create", "--key-t"], (["--key-type"], NO_FILES)),
    (["create", "-"], None),  # checked below: long and short switches
    (["--"], (["--help", "--help-all", "--version"], NO_FILES)),
    (["create", "--force", "--fo"], ([], NO_FILES)),  # given once is enough
    (["create", "-g", "a", "--gr"], (["--group"], NO_FILES)),  # repeatable
    (["create", "--key-type", "e"], (["ecdsa", "ed25519"], NO_FILES)),
    (["create", "--output=j"], (["--output=json"], NO_FILES)),
    (["create", "--context", ""], (["dev", "prod"], NO_FILES)),
    (["create", "--context=p"], (["--context=prod"], NO_FILES)),
    (["create", "--cluster", ""], (["lab"], NO_FILES)),
    (["create", ""], (["alice", "bob smith"], NO_FILES)),
    (["create", "b"], (["bob smith"], NO_FILES)),
    (["create", "--out-dir", "elsewhere", ""], (["dave"], NO_FILES)),
    (["create", "alice", ""], ([], NO_FILES)),  # groups: nothing to offer
    (["create", "--ca-cert", ""], ([], FILES)),
    (["create", "--out-dir", ""], ([], DIRS)),
    (["nosuch", ""], ([], NO_FILES)),
])
def test_kubectl_completes_through_the_helper(completing, words, expected):
    candidates, directive = completing(*words)
    if words == [""]:  # new subcommands appear by themselves
        assert (candidates, directive) == (sorted(Main("kubectl usercert")._subcommands), NO_FILES)
        assert "create" in candidates
    elif words == ["create", "-"]:
        assert {"--out-dir", "--key-type", "--context", "-g", "-o", "--help"} <= set(candidates)
        assert "--completions" not in candidates  # plumbum's own script generator: no use here
        assert directive == NO_FILES
    else:
        assert (candidates, directive) == expected


def test_completion_never_writes_to_the_terminal(tmp_path):
    """stderr reaches the user's prompt: a broken kubeconfig means no candidates, said nowhere."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("clusters: [unclosed\n")
    env = environment(tmp_path / "home", [python_dir(tmp_path / "python", sys.executable), *SYSTEM_PATH],
                      KUBECONFIG=broken)
    result = run([ROOT / "kubectl_complete-usercert", "create", "--context", ""], env)
    assert (result.returncode, result.stdout, result.stderr) == (0, ":4\n", "")
