"""install.sh and completion, for real: a throwaway HOME, pip, and kubectl finding the plugin on PATH.

install.sh runs with a PATH of only the link folder, a python3 and the system folders, so what it
leaves behind, or needs, is all in plain sight. One install takes its packages from the index, as a
user's does; the others from a wheelhouse of the same packages, downloaded once per run in the
background from the run's first packaging test on (helpers.Background: nothing starts when this
module is imported, nor in a run that leaves its tests out, as -m "not packaging" does), so that
each install's pip does not ask the index again. The install scenarios run side by side (see
`installs`): each has a HOME and PATH of its own.
"""

import ast
import configparser
import fcntl
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import (
    ROOT,
    Background,
    Scenarios,
    background_work,  # noqa: F401 (autouse: starts what the selected tests need, see DOWNLOAD)
    runs_in_this_session,
    tree,
)

INSTALL = ROOT / "install.sh"
KUBECTL = shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl")
BASH = shutil.which("bash")
SYSTEM_PATH = ["/usr/bin", "/bin"]
COMMANDS = ("kubectl-usercert", "kubectl_complete-usercert")

# The machine's environment as pytest started: read once, here, because the install scenarios read it
# in threads of their own while the tests' fixtures change os.environ.
MACHINE_ENVIRONMENT = dict(os.environ)

pytestmark = [pytest.mark.packaging, pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")]


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
    env = {
        key: value
        for key, value in MACHINE_ENVIRONMENT.items()
        if not key.startswith(("PYTHON", "XDG_", "KUBECONFIG", "VIRTUAL_ENV", "USERCERT_"))
    }
    env.update(HOME=str(home), PATH=os.pathsep.join(map(str, path)), NO_COLOR="1")
    env.update({key: str(value) for key, value in extra.items()})
    return env


def checkout_requirements():
    """What installing this checkout with --dev takes from an index: setup.cfg's install_requires and
    test extra, and pyproject.toml's build requirements (pip builds the checkout in an isolated env)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    wanted = config["options"]["install_requires"] + "\n" + config["options.extras_require"]["test"]
    build = re.search(
        r"^requires\s*=\s*(\[.*?\])", (ROOT / "pyproject.toml").read_text(), re.M | re.S
    )
    return [line.strip() for line in wanted.splitlines() if line.strip()] + ast.literal_eval(
        build.group(1)
    )


# pip download of those into folder/wheels, in the background (helpers.Background). This (the dev)
# virtualenv's pip downloads for this Python: install.sh's python3 below is base_python(), the
# interpreter this virtualenv was made from.
DOWNLOAD = Background(
    "wheelhouse",
    lambda folder: [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "-q",
        "-d",
        folder / "wheels",
        *checkout_requirements(),
    ],
    needed_by="wheelhouse",
)


@pytest.fixture(scope="module")
def wheelhouse():
    """pip settings (as environment variables, which install.sh's pip honours) that take every
    package from the wheelhouse and never ask the index."""
    downloaded = DOWNLOAD.wait()
    assert downloaded.returncode == 0, downloaded.stdout
    return {"PIP_FIND_LINKS": DOWNLOAD.folder / "wheels", "PIP_NO_INDEX": "1"}


def run(command, env, cwd=None, timeout=300):
    return subprocess.run(
        [str(part) for part in command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def completions(result):
    """kubectl __complete's answer: the candidates (without their descriptions) and the directive."""
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line]
    assert lines and lines[-1].startswith(":"), result.stdout
    return [line.split("\t")[0] for line in lines[:-1]], int(lines[-1][1:])


# install.sh
#
# The install scenarios run side by side (helpers.Scenarios), all started by `installs`: they spend
# their time in venv and pip, each in a HOME, PATH and data folder of its own (the one as root also
# in /usr/local/bin, under a lock), so two cores run them in about half the time. Each is a function
# of (its tmp folder, pip's settings); its test waits for it.

INSTALL_SCENARIOS = {}  # scenario -> whether pip takes its packages from the index


def install_scenario(from_the_index=False):
    """Registers a scenario for the test named test_install_<its name>. from_the_index: pip as the
    machine has it set up (the index), not the wheelhouse."""

    def register(function):
        INSTALL_SCENARIOS[function] = from_the_index
        return function

    return register


@pytest.fixture(scope="module")
def installs(request, tmp_path_factory, wheelhouse):
    """The install scenarios; those whose tests this run will run are started now, all at once."""
    with Scenarios(len(INSTALL_SCENARIOS), tmp_path_factory) as scenarios:
        for scenario, from_the_index in INSTALL_SCENARIOS.items():
            scenarios.add(scenario, {} if from_the_index else wheelhouse)
            if runs_in_this_session(request, f"test_install_{scenario.__name__}"):
                scenarios.start(scenario)
        yield scenarios


@install_scenario()
def reinstall_and_uninstall_leave_home_as_it_was(tmp_path, pip):
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
    env = environment(
        home, [link_dir, other_bin, pybin, *SYSTEM_PATH], XDG_DATA_HOME=data_home, **pip
    )
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
    offered = completions(run([KUBECTL, "__complete", "usercert", "crea"], kubectl_env))
    assert offered[0] == ["create"]
    # The README's first command, and the main job as a new user would type it.
    demo = run([KUBECTL, "usercert", "demo", "--dir", tmp_path / "demo"], kubectl_env)
    assert demo.returncode == 0 and "On a real cluster" in demo.stderr, demo.stderr
    work = tmp_path / "first-user"
    work.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=kubernetes",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
        cwd=work,
        env=kubectl_env,
        check=True,
        capture_output=True,
    )
    made = run(
        [
            KUBECTL,
            "usercert",
            "create",
            "alice",
            "dev",
            "--ca-cert",
            "ca.crt",
            "--ca-key",
            "ca.key",
            "--server",
            "https://127.0.0.1:6443",
        ],
        kubectl_env,
        cwd=work,
    )
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


def test_install_reinstall_and_uninstall_leave_home_as_it_was(installs):
    installs.outcome(reinstall_and_uninstall_leave_home_as_it_was)


def test_install_refuses_to_replace_a_command_that_is_not_its_own(tmp_path):
    home = tmp_path / "user"
    link_dir = home / ".local" / "bin"
    link_dir.mkdir(parents=True)
    (link_dir / "kubectl-usercert").write_text("#!/bin/sh\necho someone else's\n")
    before = tree(home)
    env = environment(home, [python_dir(tmp_path / "python", base_python()), *SYSTEM_PATH])
    result = run([BASH, INSTALL], env)
    assert result.returncode == 1
    assert (
        result.stderr.splitlines()[0]
        == "error: ~/.local/bin/kubectl-usercert exists and is not ours"
    )
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
        "hint: install it (Debian/Ubuntu: apt install openssl; macOS: brew install openssl)",
    ]

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


# Where the links go: into a folder on PATH now, so that the README's
# `./install.sh && kubectl usercert demo` works in the same shell.


def folders(home, *names):
    made = [home / name for name in names]
    for folder in made:
        folder.mkdir(parents=True)
    return made


def linked(folder, venv):
    """Whether both commands are linked into `folder`, each pointing into `venv`."""
    return all(
        os.path.islink(folder / command)
        and os.readlink(folder / command) == str(venv / "bin" / command)
        for command in COMMANDS
    )


@install_scenario(from_the_index=True)  # the one install from the index, as a user's is
def links_into_a_folder_of_home_on_path_when_local_bin_is_not(tmp_path, pip):
    home = tmp_path / "user"
    own_bin, tool_bin = folders(
        home, "bin", ".cargo/bin"
    )  # .cargo/bin: a tool's own (it rewrites it), never ours
    before = tree(home)
    env = environment(
        home,
        [tool_bin, own_bin, python_dir(tmp_path / "python", base_python()), *SYSTEM_PATH],
        **pip,
    )

    installed = run([BASH, INSTALL], env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    venv = home / ".local" / "share" / "kubectl-usercert" / "venv"
    assert linked(own_bin, venv)
    assert (
        "Installed kubectl-usercert" in installed.stdout
        and "~/bin/{kubectl-usercert," in installed.stdout
    )
    assert "not on your PATH" not in installed.stdout
    assert tree(tool_bin) == [] and not (home / ".local" / "bin").exists()
    # The README's second command, in that same environment: kubectl finds the plugin at once.
    helped = run([KUBECTL, "usercert", "--help"], env)
    assert helped.returncode == 0, helped.stderr
    assert "kubectl usercert" in helped.stdout and "create" in helped.stdout

    removed = run([BASH, INSTALL, "--uninstall"], env)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert tree(home) == before


def test_install_links_into_a_folder_of_home_on_path_when_local_bin_is_not(installs):
    installs.outcome(links_into_a_folder_of_home_on_path_when_local_bin_is_not)


@install_scenario()
def with_no_folder_on_path_falls_back_to_local_bin_and_says_how(tmp_path, pip):
    home = tmp_path / "user"
    # inside a hidden folder: a tool's; a virtualenv's; not on PATH yet
    tool_bin, venv_bin, own_bin = folders(home, ".tool/bin", "venv/bin", "bin")
    (home / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    before = tree(home)
    # No ~/.local/bin, no folder of home fit for the links, no /usr/local/bin (so root has none either).
    pybin = python_dir(tmp_path / "python", base_python())
    env = environment(home, [tool_bin, venv_bin, pybin, *SYSTEM_PATH], **pip)

    first = run([BASH, INSTALL], env)
    assert first.returncode == 0, first.stdout + first.stderr
    venv = home / ".local" / "share" / "kubectl-usercert" / "venv"
    local_bin = home / ".local" / "bin"
    assert linked(local_bin, venv)
    said = first.stdout.splitlines()
    assert "~/.local/bin is not on your PATH; add it (e.g. in ~/.bashrc or ~/.zshrc):" in said
    assert f'  export PATH="{local_bin}:$PATH"' in said
    assert tree(tool_bin) == [] and tree(venv_bin) == []

    # With ~/bin on PATH (as after that line, for ~/bin), a re-install moves the links there.
    env = environment(home, [own_bin, pybin, *SYSTEM_PATH], **pip)
    second = run([BASH, INSTALL], env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert linked(own_bin, venv)
    assert not any(os.path.lexists(local_bin / command) for command in COMMANDS), (
        "the old links are gone"
    )
    assert "not on your PATH" not in second.stdout

    removed = run([BASH, INSTALL, "--uninstall"], env)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert tree(home) == before


def test_install_with_no_folder_on_path_falls_back_to_local_bin_and_says_how(installs):
    installs.outcome(with_no_folder_on_path_falls_back_to_local_bin_and_says_how)


USR_LOCAL_BIN = Path("/usr/local/bin")


def links_into(folder, home):
    """Our commands in `folder`, and any link there into `home`: what an install may leave."""
    found = [
        path
        for path in folder.iterdir()
        if path.name in COMMANDS
        or (path.is_symlink() and os.readlink(path).startswith(f"{home}{os.sep}"))
    ]
    return sorted(map(str, found))


@install_scenario()
def as_root_links_into_usr_local_bin_and_uninstall_takes_them_away(tmp_path, pip):
    home = tmp_path / "user"
    home.mkdir()
    pybin = python_dir(tmp_path / "python", base_python())
    env = environment(home, [pybin, USR_LOCAL_BIN, *SYSTEM_PATH], **pip)  # nothing in home on PATH
    venv = home / ".local" / "share" / "kubectl-usercert" / "venv"
    folder = os.open(USR_LOCAL_BIN, os.O_RDONLY)  # one such test at a time on this machine
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        if links_into(USR_LOCAL_BIN, home):
            pytest.skip("/usr/local/bin holds a kubectl-usercert already")
        try:
            installed = run([BASH, INSTALL], env)
            assert installed.returncode == 0, installed.stdout + installed.stderr
            assert linked(USR_LOCAL_BIN, venv)
            assert "not on your PATH" not in installed.stdout
            helped = run([KUBECTL, "usercert", "--help"], env)
            assert helped.returncode == 0 and "create" in helped.stdout, helped.stderr
        finally:
            removed = run([BASH, INSTALL, "--uninstall"], env)
            left = links_into(USR_LOCAL_BIN, home)
            for path in left:  # whatever happened, nothing of this test stays in /usr/local/bin
                os.unlink(path)
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert left == [], "--uninstall removes the links in /usr/local/bin"
        assert tree(home) == []
    finally:
        os.close(folder)  # and with it the lock


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not os.access(USR_LOCAL_BIN, os.W_OK),
    reason="needs root and a writable /usr/local/bin",
)
def test_install_as_root_links_into_usr_local_bin_and_uninstall_takes_them_away(installs):
    installs.outcome(as_root_links_into_usr_local_bin_and_uninstall_takes_them_away)


# The checkout's launchers, run by a python3 that cannot run them: one line saying what to do.


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """The bin folder of a virtualenv with nothing installed: a python3 without plumbum, PyYAML or rich."""
    folder = tmp_path_factory.mktemp("bare-python")
    subprocess.run(
        [base_python(), "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True
    )
    return folder / "bin"


def test_launcher_without_the_dependencies_says_what_to_do(bare_python, tmp_path):
    env = environment(tmp_path / "home", [ROOT, bare_python, *SYSTEM_PATH])  # python3: the bare one
    expected = [
        f"error: kubectl-usercert needs plumbum, PyYAML and rich, which python3 ({bare_python / 'python3'})"
        " does not have",
        f"hint: run ./install.sh from {ROOT}, then use kubectl usercert",
    ]
    direct = run([ROOT / "kubectl-usercert", "--help"], env)
    assert (direct.returncode, direct.stdout, direct.stderr.splitlines()) == (4, "", expected)
    through_kubectl = run([KUBECTL, "usercert", "create", "alice"], env)
    assert (through_kubectl.returncode, through_kubectl.stderr.splitlines()) == (4, expected)

    # The completion helper runs in the middle of a prompt: not a word on stderr, whatever it can
    # offer (`:1`, cobra's error directive, when it cannot load what it needs).
    completed = run([ROOT / "kubectl_complete-usercert", "create", ""], env)
    assert (completed.returncode, completed.stderr) == (0, "")
    assert completed.stdout.splitlines()[-1][:1] == ":", completed.stdout
    completions(run([KUBECTL, "__complete", "usercert", "cr"], env))  # an answer kubectl passes on
    # A package whose completion needs plumbum (this one's may not): the helper answers `:1` alone.
    package = tmp_path / "checkout" / "lib" / "kubectl_usercert"
    package.mkdir(parents=True)
    (package / "cli").mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli" / "__init__.py").write_text("")
    (package / "cli" / "completion.py").write_text("import plumbum\n")
    shutil.copy(ROOT / "kubectl_complete-usercert", tmp_path / "checkout")
    completed = run([tmp_path / "checkout" / "kubectl_complete-usercert", "create", ""], env)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, ":1\n", "")


def _old_python():
    """A Python 3 older than 3.9 on this machine, if there is one (pyenv often keeps some)."""
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [shutil.which(f"python3.{minor}") for minor in range(8, 4, -1)]
    candidates += sorted(
        glob.glob(os.path.join(pyenv, "versions", "3.[5-8].*", "bin", "python3")), reverse=True
    )
    for candidate in filter(None, candidates):
        try:
            old = (
                subprocess.run(
                    [candidate, "-c", "import sys; sys.exit(sys.version_info >= (3, 9))"],
                    capture_output=True,
                    timeout=30,
                ).returncode
                == 0
            )
        except OSError:
            continue
        if old:
            return candidate
    return None


@pytest.fixture
def old_python():
    """Looked for when the test runs, not when this module is imported: pyenv's shims take a while."""
    found = _old_python()
    if found is None:
        pytest.skip("needs a Python 3 older than 3.9")
    return found


def test_launcher_on_a_python_older_than_3_9_says_so(tmp_path, old_python):
    env = environment(tmp_path / "home", SYSTEM_PATH)
    result = run([old_python, ROOT / "kubectl-usercert", "--help"], env)
    assert result.returncode == 4 and result.stdout == ""
    first, hint = result.stderr.splitlines()
    assert first.startswith(
        f"error: kubectl-usercert needs Python 3.9 or newer, {old_python} is 3."
    )
    assert (
        hint
        == f"hint: run ./install.sh from {ROOT} (PYTHON=python3.X ./install.sh picks a newer one)"
    )
    completed = run([old_python, ROOT / "kubectl_complete-usercert", "create", ""], env)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, ":1\n", "")
