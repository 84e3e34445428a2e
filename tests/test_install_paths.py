"""install.sh's paths, checked without installing (issue 18, item 9): what it decides before any
virtualenv or pip, so these run in a second, unlike tests/test_install.py."""

import os
import shutil
import subprocess
import sys

from helpers import ROOT, python_on_path

INSTALL = ROOT / "install.sh"
BASH = shutil.which("bash")


def install(home, tmp_path, *args, **env):
    python = python_on_path(
        tmp_path / "python", os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    )
    environment = {
        "HOME": str(home),
        "PATH": os.pathsep.join([str(python), "/usr/bin", "/bin"]),
        "NO_COLOR": "1",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(tmp_path / "no-wheels"),
        **env,
    }
    return subprocess.run(
        [BASH, str(INSTALL), *args],
        env=environment,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_a_relative_xdg_data_home_is_ignored_as_the_spec_says(tmp_path):
    home = tmp_path / "user"
    home.mkdir()
    helped = install(home, tmp_path, "--help", XDG_DATA_HOME="relative/data")
    assert helped.returncode == 0
    assert (
        f"{home}/.local/share/kubectl-usercert/venv" in helped.stdout
        and "relative/data" not in helped.stdout
    )
    assert "warning: XDG_DATA_HOME=relative/data is not an absolute path; ignored" in helped.stderr
    removed = install(home, tmp_path, "--uninstall", XDG_DATA_HOME="relative/data")
    assert removed.returncode == 0 and "(no ~/.local/share/kubectl-usercert)" in removed.stdout


def test_a_link_that_only_starts_with_the_install_folder_is_not_its_own(tmp_path):
    home = tmp_path / "user"
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "kubectl-usercert").write_text("#!/bin/sh\necho someone else's\n")
    # its text starts with the install folder, but it resolves to someone else's command
    text = f"{home}/.local/share/kubectl-usercert/../../../elsewhere/kubectl-usercert"
    os.makedirs(home / ".local" / "share" / "kubectl-usercert")
    (bin_dir / "kubectl-usercert").symlink_to(text)

    refused = install(home, tmp_path)
    assert refused.returncode == 1
    assert (
        refused.stderr.splitlines()[0]
        == "error: ~/.local/bin/kubectl-usercert exists and is not ours"
    ), refused.stderr
    assert not (home / ".local" / "share" / "kubectl-usercert" / "venv").exists()
    os.rmdir(home / ".local" / "share" / "kubectl-usercert")
    assert install(home, tmp_path, "--uninstall").returncode == 0
    assert os.readlink(bin_dir / "kubectl-usercert") == text  # left as it was: not ours to remove


def test_a_link_that_resolves_to_its_own_command_is_its_own(tmp_path):
    home = tmp_path / "user"
    app = home / ".local" / "share" / "kubectl-usercert"
    (app / "venv" / "bin").mkdir(parents=True)
    (app / "venv" / "bin" / "kubectl-usercert").write_text("#!/bin/sh\n")
    (app / "install-record").write_text("")
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "kubectl-usercert").symlink_to(
        "../share/kubectl-usercert/venv/bin/kubectl-usercert"
    )  # relative
    (bin_dir / "other").symlink_to(
        "../share/kubectl-usercert/venv/bin/kubectl-usercert"
    )  # not one of its names
    removed = install(home, tmp_path, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not os.path.lexists(bin_dir / "kubectl-usercert") and not app.exists()
    assert os.path.islink(bin_dir / "other")
