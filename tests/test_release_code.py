"""release/'s code, checked without a release build: the builder's per-build values, the rules the
zipapp's own code keeps (the standard library and Python 3.9 only: it runs on any python3 >= 3.9 with
nothing installed), a small zipapp run by every Python here, and the set-up of the packaging tests
(nothing starts when they are left out). Not marked `packaging`: it takes a few seconds."""

import ast
import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import small_zipapp
from helpers import ROOT

ZIPAPP = ROOT / "release" / "zipapp"
ZIPAPP_MODULES = sorted(ZIPAPP.glob("*.py"))
COMPLETER = ROOT / "release" / "kubectl_complete-usercert"
BOOT = ZIPAPP / "_kubectl_usercert_zipapp.py"


def test_the_build_sets_the_boot_modules_build_values():
    builder = small_zipapp.release_builder()
    source = BOOT.read_text()
    unbuilt = builder.string_constants(source)
    assert (unbuilt["BUILD_ID"], unbuilt["MANIFEST_SHA256"]) == ("unbuilt", "unbuilt")
    built = builder.with_build_values(
        source, BUILD_ID="1.2.3-0123456789abcdef", MANIFEST_SHA256="f" * 64
    )
    assert builder.string_constants(built) == dict(
        unbuilt, BUILD_ID="1.2.3-0123456789abcdef", MANIFEST_SHA256="f" * 64
    )
    changed = [
        (old, new) for old, new in zip(source.splitlines(), built.splitlines()) if old != new
    ]
    assert changed == [
        ('BUILD_ID = "unbuilt"', 'BUILD_ID = "1.2.3-0123456789abcdef"'),
        ('MANIFEST_SHA256 = "unbuilt"', f'MANIFEST_SHA256 = "{"f" * 64}"'),
    ]


@pytest.mark.parametrize(
    "change, complaint",
    [
        (lambda source: source.replace('BUILD_ID = "unbuilt"\n', ""), "BUILD_ID is set 0 times"),
        (lambda source: source + 'BUILD_ID = "unbuilt"\n', "BUILD_ID is set 2 times"),
        (
            lambda source: source.replace('BUILD_ID = "unbuilt"', 'BUILD_ID = ("unbuilt")'),
            "BUILD_ID is set 0 times",
        ),
    ],
)
def test_the_build_refuses_a_boot_module_whose_build_values_it_cannot_set(change, complaint):
    builder = small_zipapp.release_builder()
    with pytest.raises(ValueError, match=complaint):
        builder.with_build_values(
            change(BOOT.read_text()), BUILD_ID="1.2.3-0123456789abcdef", MANIFEST_SHA256="0"
        )


def imported(path):
    """The top-level names of every module `path` imports, wherever in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.skipif(sys.version_info < (3, 10), reason="needs sys.stdlib_module_names")
@pytest.mark.parametrize("path", [*ZIPAPP_MODULES, COMPLETER], ids=lambda path: path.name)
def test_the_zipapps_code_needs_only_the_standard_library(path):
    own = {module.stem for module in ZIPAPP_MODULES} | {"kubectl_usercert"}  # the payload's package
    assert imported(path) - own - set(sys.stdlib_module_names) == set()


@pytest.mark.parametrize("path", ZIPAPP_MODULES, ids=lambda path: path.name)
def test_the_zipapps_code_is_python_3_9(path):
    ast.parse(
        path.read_text(), feature_version=(3, 9)
    )  # best effort; the test below compiles for real


def pythons_here():
    """{(major, minor): interpreter} of every Python 3 on this machine that pyenv or /usr holds."""
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = sorted(glob.glob(os.path.join(pyenv, "versions", "3.*", "bin", "python3")))
    candidates += sorted(
        glob.glob("/usr/bin/python3.*[0-9]") + glob.glob("/usr/local/bin/python3.*[0-9]")
    )
    found = {}
    for path in candidates:
        said = subprocess.run(
            [path, "-c", "import sys; print('%d %d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if said.returncode == 0:
            found.setdefault(tuple(map(int, said.stdout.split())), path)
    return found


@pytest.fixture(scope="module")
def pythons():
    found = pythons_here()
    return found or pytest.skip("no Python found in pyenv or /usr")


def test_the_zipapps_code_compiles_with_every_python_here(pythons):
    """The modules on every Python 3.9 or later; __main__.py and the completion helper on every
    Python 3 (they must get far enough to say which Python they need)."""
    for version, python in pythons.items():
        paths = [ZIPAPP / "__main__.py", COMPLETER] + (ZIPAPP_MODULES if version >= (3, 9) else [])
        compiled = subprocess.run(
            [
                python,
                "-c",
                "import sys\nfor path in sys.argv[1:]:\n"
                "    compile(open(path, 'rb').read(), path, 'exec', dont_inherit=True)",
                *map(str, paths),
            ],
            capture_output=True,
            text=True,
        )
        assert compiled.returncode == 0, (version, compiled.stderr)


def run_app(python, command, cache_home):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cache_home.parent),
        "XDG_CACHE_HOME": str(cache_home),
    }
    return subprocess.run(
        [python, *map(str, command)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_a_small_zipapp_runs_on_every_python_here_from_3_9_and_says_so_on_older_ones(
    pythons, tmp_path
):
    app = small_zipapp.build(tmp_path / "build")
    completer = app.parent / "kubectl_complete-usercert"
    cache_home = tmp_path / "cache"
    for version, python in pythons.items():
        if version < (3, 9):
            old = run_app(python, [app, "--version"], cache_home)
            assert (old.returncode, old.stdout) == (1, ""), version
            assert old.stderr.startswith(
                "error: kubectl-usercert needs Python 3.9 or newer, python3 here is "
                "%d.%d\nhint: " % version
            )
            assert run_app(python, [completer, "cr"], cache_home).returncode == 1
            continue
        for run in ("first", "later"):  # unpacking, then from the cache
            cli = run_app(python, [app, "--version"], cache_home)
            assert cli.returncode == 0 and cli.stderr == "", (version, run, cli.stderr)
            said, where = cli.stdout.rsplit(" ", 1)
            assert said == "cli ['--version']" and "/kubectl-usercert/zipapp/" in where, (
                version,
                run,
                cli.stdout,
            )
        for command in ([app, "__complete", "cr"], [completer, "cr"]):
            completed = run_app(python, command, cache_home)
            assert completed.stdout.startswith("completion ['cr'] "), (
                version,
                command,
                completed.stderr,
            )
        from_zip = run_app(python, [app, "x"], Path("/dev/null/cache"))
        assert (
            from_zip.stdout.startswith("cli ['x'] ")
            and "_kubectl_usercert_zipapp.zip/" in from_zip.stdout
        )
    tags = {
        name.rsplit("-", 1)[1] for name in os.listdir(cache_home / "kubectl-usercert" / "zipapp")
    }
    assert tags == {"%d%d" % version for version in pythons if version >= (3, 9)}


# Records every process started during a pytest run, and from which of the tests' files.
RECORDER = """
import json, os, subprocess, traceback
started = []
real_init = subprocess.Popen.__init__
def recording_init(self, args, *rest, **options):
    files = sorted({os.path.basename(frame.filename) for frame in traceback.extract_stack()})
    started.append({"argv": [str(part) for part in args] if isinstance(args, list) else [str(args)], "from": files})
    real_init(self, args, *rest, **options)
subprocess.Popen.__init__ = recording_init
def pytest_unconfigure(config):
    with open(os.environ["STARTED_RECORD"], "w") as record:
        json.dump(started, record)
"""


@pytest.mark.parametrize("selection", [["-m", "not packaging"], ["--collect-only"]])
def test_the_packaging_tests_start_nothing_when_they_are_left_out(tmp_path, selection):
    """Their set-up (a release build, a pip download, localedef) starts at their first test, not when
    their modules are imported: a run that leaves them out, as -m "not packaging" does, starts none of
    it, and no process at all from their modules."""
    (tmp_path / "recorder.py").write_text(RECORDER)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), STARTED_RECORD=str(tmp_path / "started.json"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "recorder",
            "-p",
            "no:cacheprovider",
            *selection,
            "tests/test_install.py",
            "tests/test_release.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: no test ran
    assert re.match(r"[1-9]\d* (deselected|tests collected) in ", result.stdout.splitlines()[-1]), (
        result.stdout
    )
    started = json.loads((tmp_path / "started.json").read_text())
    ours = [
        entry
        for entry in started
        if {"test_install.py", "test_release.py", "helpers.py"} & set(entry["from"])
    ]
    assert ours == []
