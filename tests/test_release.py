"""The release: release/build.py's archive installed as krew installs it, and its krew manifest.

The archive is built once per run into a temporary folder (pip fetches the dependencies), in the
background from the run's first packaging test on (helpers.Background: nothing starts when this
module is imported, nor in a run that leaves its tests out, as -m "not packaging" does), then
unpacked the way krew does and run through kubectl by a fresh virtualenv's python3 that has none
of the dependencies. The zipapp's cache (its unpacked, compiled copy in
${XDG_CACHE_HOME:-~/.cache}/kubectl-usercert/zipapp/) is used only where nobody else could have
changed it: planted, tampered, foreign and world-writable caches are shown not to run. The
manifest is held to the rules of krew's validation (internal/index/validation/validate.go and
cmd/validate-krew-manifest) and krew-index's review, implemented below, and to this project's own.
"""

import ast
import base64
import copy
import glob
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from helpers import (
    ROOT,
    Background,
    Scenarios,
    background_work,  # noqa: F401 (autouse: starts what the selected tests need, see BUILD)
    runs_in_this_session,
    selected_and_not_skipped,
)
from kubectl_usercert import __version__

KUBECTL = shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl")
OPENSSL = shutil.which("openssl")
TAG = "v" + __version__
ARCHIVE_NAME = f"kubectl-usercert-{TAG}.tar.gz"
RELEASE_URI = (
    f"https://github.com/kubectl-usercert/kubectl-usercert/releases/download/{TAG}/{ARCHIVE_NAME}"
)
SYSTEM_PATH = ["/usr/bin", "/bin"]
BOOT = "_kubectl_usercert_zipapp"
PAYLOAD = BOOT + ".zip"
MANIFEST_FILE = BOOT + ".sha256"

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(KUBECTL is None or OPENSSL is None, reason="needs kubectl and openssl"),
]
BUILD = Background(
    "release-build",
    lambda folder: [
        sys.executable,
        ROOT / "release" / "build.py",
        "--dist",
        folder / "dist",
        "--manifest",
        folder / "plugins" / "usercert.yaml",
    ],
    needed_by="release",
)


@pytest.fixture(scope="module", autouse=True)
def ahead(request, release, tmp_path_factory):
    """This module's long scenario that needs nothing from its other tests, run side by side with them
    (helpers.Scenarios) from the module's first test on, if its test is to run. What it reads from
    this process (the Pythons here, the environment) is read now, before any test changes it."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "XDG_", "VIRTUAL_ENV", "KUBECONFIG", "USERCERT_"))
    }
    with Scenarios(1, tmp_path_factory) as scenarios:
        if runs_in_this_session(request, "test_each_python_version_gets_its_own_bytecode"):
            scenarios.add(
                each_python_version_gets_its_own_bytecode,
                release,
                installed_pythons(),
                dict(environment, NO_COLOR="1"),
            )
            scenarios.start(each_python_version_gets_its_own_bytecode)
        yield scenarios


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    built = BUILD.wait()
    assert built.returncode == 0, built.stdout
    out = tmp_path_factory.mktemp("release")
    shutil.copytree(BUILD.folder / "dist", out / "dist")
    shutil.copytree(BUILD.folder / "plugins", out / "plugins")
    manifest = out / "plugins" / "usercert.yaml"
    archive = out / "dist" / ARCHIVE_NAME
    assert archive.is_file(), os.listdir(out / "dist")
    return archive, manifest


def archive_members(archive):
    with tarfile.open(archive) as tar:
        return {
            member.name: (member, tar.extractfile(member).read() if member.isfile() else None)
            for member in tar.getmembers()
        }


# The archive


def test_archive_holds_regular_files_only_as_krew_extracts_them(release):
    archive, _ = release
    members = archive_members(archive)
    assert sorted(members) == ["LICENSE", "kubectl-usercert", "kubectl_complete-usercert"]
    for name, (member, _) in members.items():
        # krew: only directories and regular files, nothing absolute or with ".."
        assert member.isfile(), name
        assert ".." not in name and not name.startswith(("/", "\\"))
    assert members["kubectl-usercert"][0].mode & 0o777 == 0o755
    assert members["kubectl_complete-usercert"][0].mode & 0o777 == 0o755
    assert members["LICENSE"][1] == (ROOT / "LICENSE").read_bytes()
    assert (
        b"Apache License" in members["LICENSE"][1]
        and b"Version 2.0, January 2004" in members["LICENSE"][1]
    )


def zipapp_parts(release):
    """The zipapp's own entries, and the payload's (the package and its dependencies)."""
    archive, _ = release
    app = archive_members(archive)["kubectl-usercert"][1]
    assert app.startswith(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(io.BytesIO(app)) as bundle:
        outer = {name: bundle.read(name) for name in bundle.namelist()}
    with zipfile.ZipFile(io.BytesIO(outer[PAYLOAD])) as bundle:
        payload = {name: bundle.read(name) for name in bundle.namelist()}
    return outer, payload


def test_the_executable_is_a_zipapp_with_no_platform_specific_code(release):
    # The package and its dependencies sit in a zip inside the zipapp (the payload): Python reads
    # a zipapp's whole directory on every start, so the zipapp itself holds five entries.
    outer, payload = zipapp_parts(release)
    assert sorted(outer) == sorted(
        ["__main__.py", BOOT + ".py", BOOT + "_runtime.py", MANIFEST_FILE, PAYLOAD]
    )
    names = list(payload)
    assert "kubectl_usercert/cli/__init__.py" in names
    assert "kubectl_usercert/cli/completion.py" in names
    for package in ("plumbum/__init__.py", "yaml/__init__.py", "rich/__init__.py"):
        assert package in names
    native = [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
    assert native == []
    assert not [n for n in [*names, *outer] if "__pycache__" in n or n.endswith(".pyc")]


def test_the_zipapp_carries_a_sha256_manifest_of_its_payload(release):
    outer, payload = zipapp_parts(release)
    lines = outer[MANIFEST_FILE].decode().splitlines()
    listed = {name: digest for digest, name in (line.split("  ", 1) for line in lines)}
    assert listed == {name: hashlib.sha256(data).hexdigest() for name, data in payload.items()}
    # the boot module holds the manifest's digest, so a changed manifest is noticed too
    assert f'"{hashlib.sha256(outer[MANIFEST_FILE]).hexdigest()}"' in outer[BOOT + ".py"].decode()
    assert payload[BOOT + "_runtime.py"] == outer[BOOT + "_runtime.py"]


# Installed as krew installs it, run by a python3 with nothing installed


def fresh_pythons():
    """The interpreter running the tests and, unless it is one, a Python 3.9 (the oldest allowed), as
    parameters: fresh_python() looks for them when a test needs one, not when this module is imported."""
    found = [pytest.param("this", id="python%d.%d" % sys.version_info[:2])]
    if sys.version_info[:2] != (3, 9):
        found.append(pytest.param("3.9", id="python3.9"))
    return found


def fresh_python(which):
    """The interpreter of a fresh_pythons() parameter, outside any virtualenv; None for a 3.9 that
    this machine does not have."""
    base = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    if which == "this":
        return base
    versions = {
        os.path.dirname(os.path.dirname(os.path.dirname(base))),  # pyenv: versions/X/bin/python
        os.path.join(os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "versions"),
    }
    candidates = sorted(
        c for folder in versions for c in glob.glob(os.path.join(folder, "3.9*/bin/python3.9"))
    )
    candidates += [
        p for p in ("/usr/bin/python3.9", "/usr/local/bin/python3.9") if os.path.exists(p)
    ]
    usable = [c for c in candidates if subprocess.run([c, "-c", "import venv"]).returncode == 0]
    return usable[0] if usable else None


def krew_platform(manifest, os_name, arch):
    """The platform entry krew picks on os_name/arch (there must be exactly one)."""
    matching = [
        p
        for p in manifest["spec"]["platforms"]
        if selector_matches(p["selector"], {"os": os_name, "arch": arch})
    ]
    assert len(matching) == 1, (os_name, arch, matching)
    return matching[0]


def krew_install(archive, manifest_path, krew_root, os_name="linux", arch="amd64"):
    """What `kubectl krew install --manifest` does with our manifest: unpack the archive, apply
    `files` (from -> to) into the store, link `bin` into KREW_ROOT/bin."""
    manifest = yaml.safe_load(Path(manifest_path).read_text())
    platform = krew_platform(manifest, os_name, arch)
    download = krew_root / "download"
    download.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(download)
    store = krew_root / "store" / manifest["metadata"]["name"] / manifest["spec"]["version"]
    store.mkdir(parents=True)
    for operation in platform["files"]:
        for source in glob.glob(str(download / operation["from"])):
            shutil.move(source, store / operation["to"] / os.path.basename(source))
    bin_dir = krew_root / "bin"
    bin_dir.mkdir()
    (bin_dir / ("kubectl-" + manifest["metadata"]["name"])).symlink_to(store / platform["bin"])
    return bin_dir, store


@pytest.fixture(scope="module", params=fresh_pythons())
def krew_installed(request, release, tmp_path_factory):
    """The plugin installed krew-style, and an environment whose python3 has no dependencies; and,
    made in the background from now on, the caches of first runs the tests below will change
    (see first_run_cache)."""
    python = fresh_python(request.param)
    if python is None:
        pytest.skip("no Python 3.9 here")
    base = tmp_path_factory.mktemp("krew")
    archive, manifest = release
    bin_dir, store = krew_install(archive, manifest, base / "krew")
    venv = base / "venv"
    made = subprocess.run(
        [python, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    home = base / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "XDG_", "KUBECONFIG", "VIRTUAL_ENV", "USERCERT_"))
    }
    env.update(
        HOME=str(home),
        NO_COLOR="1",
        PATH=os.pathsep.join([str(venv / "bin"), str(bin_dir), *SYSTEM_PATH]),
    )
    installed = {
        "env": env,
        "home": home,
        "bin": bin_dir,
        "store": store,
        "python": python,
        "krew_root": base / "krew",
        "manifest": yaml.safe_load(manifest.read_text()),
    }
    wanted = [
        item
        for item in selected_and_not_skipped(request)
        if "first_run_cache" in item.fixturenames
        and item.callspec.params.get("krew_installed") == request.param
    ]
    with FirstRuns(installed, base / "first-runs", len(wanted)) as installed["first_runs"]:
        yield installed


class FirstRuns:
    """XDG_CACHE_HOMEs, each filled by the first run of the zipapp there (which unpacks and compiles
    the build into it), made ahead, one after the other, on the core that the tests (one at a time)
    leave idle. The tests that then change such a cache take one each: take() waits for the next
    one (or makes it, if more are taken than were made)."""

    def __init__(self, installed, folder, count):
        self._installed, self._folder = installed, folder
        folder.mkdir()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="first-run")
        self._ahead = [self._start() for _ in range(count)]

    def _start(self):
        return self._pool.submit(
            self._first_run, Path(tempfile.mkdtemp(dir=self._folder)) / "cache"
        )

    def _first_run(self, cache_home):
        run_zipapp(self._installed, cache_home, "--version")
        return cache_home

    def take(self):
        return (self._ahead.pop(0) if self._ahead else self._start()).result()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self._pool.shutdown(wait=True)


@pytest.fixture
def first_run_cache(krew_installed):
    """An XDG_CACHE_HOME in which one run of the zipapp (--version) has unpacked and compiled the build,
    as the first run of a build does."""
    return krew_installed["first_runs"].take()


def run(command, env, cwd=None):
    return subprocess.run(
        [str(part) for part in command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def test_fresh_python_has_none_of_the_dependencies(krew_installed):
    for module in ("plumbum", "rich", "yaml"):
        result = run(["python3", "-c", f"import {module}"], krew_installed["env"])
        assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr, module


def test_kubectl_runs_the_released_plugin(krew_installed, tmp_path):
    env = krew_installed["env"]
    version = run([KUBECTL, "usercert", "--version"], env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"kubectl usercert {__version__}"

    subprocess.run(
        [
            OPENSSL,
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
            "-days",
            "30",
            "-subj",
            "/CN=release-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    created = run(
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
        env,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    config = yaml.safe_load((tmp_path / "clients" / "alice" / "kubeconfig").read_text())
    cert = x509.load_pem_x509_certificate(
        base64.b64decode(config["users"][0]["user"]["client-certificate-data"])
    )
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "dev"
    ]
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


def caveat_completion_lines(manifest):
    """The shell lines the manifest's caveats give for installing the completion helper."""
    caveats = manifest["spec"]["caveats"]
    block = caveats[caveats.index("Shell completion") :].split("\n", 1)[1]
    return "\n".join(line.strip() for line in block.splitlines()) + "\n"


def test_completion_from_the_release_through_kubectl(krew_installed, tmp_path):
    env = krew_installed["env"]
    # The helper from the archive, linked next to the plugin, and the caveats' wrapper script.
    helper = krew_installed["bin"] / "kubectl_complete-usercert"
    for way in ("link", "caveats"):
        if helper.exists() or helper.is_symlink():
            helper.unlink()
        if way == "link":
            helper.symlink_to(krew_installed["store"] / "kubectl_complete-usercert")
        else:
            made = run(
                ["sh", "-c", caveat_completion_lines(krew_installed["manifest"])],
                dict(env, KREW_ROOT=str(krew_installed["krew_root"])),
            )
            assert made.returncode == 0, made.stderr
            assert os.access(helper, os.X_OK)
        result = run([KUBECTL, "__complete", "usercert", "cr"], env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0].split("\t")[0] == "create", (way, result.stdout)
        assert result.stdout.splitlines()[-1] == ":4"
        flags = run([KUBECTL, "__complete", "usercert", "create", "--key-t"], env, cwd=tmp_path)
        assert [line.split("\t")[0] for line in flags.stdout.splitlines()] == [
            "--key-type",
            ":4",
        ], way
    helper.unlink()


def test_zipapp_unpacks_once_into_the_cache_and_runs_without_it(krew_installed):
    env = krew_installed["env"]
    assert run([KUBECTL, "usercert", "--version"], env).returncode == 0
    cache = krew_installed["home"] / ".cache" / "kubectl-usercert" / "zipapp"
    builds = [p.name for p in cache.iterdir()]
    assert len(builds) == 1 and builds[0].startswith(__version__ + "-")
    # Nowhere to unpack (a read-only or missing home): it runs from the zip itself.
    no_cache = dict(env, XDG_CACHE_HOME="/dev/null/cache")
    result = run([KUBECTL, "usercert", "--version"], no_cache)
    assert (result.returncode, result.stdout.strip()) == (0, f"kubectl usercert {__version__}"), (
        result.stderr
    )


# The zipapp's cache: used only where nobody else could have changed it

# Runs the zipapp as the completion helper does (its boot module from the zip), then reports
# where kubectl_usercert.cli came from and which Python files were compiled during the run.
HARNESS = r"""
import atexit, builtins, sys
zipapp = sys.argv[1]
sys.argv = ["kubectl-usercert"] + sys.argv[2:]
compiled = []
real_compile = builtins.compile
def counting_compile(source, filename, *args, **kwargs):
    compiled.append(str(filename))
    return real_compile(source, filename, *args, **kwargs)
builtins.compile = counting_compile
def report():
    cli = sys.modules.get("kubectl_usercert.cli")
    found = {"cli": getattr(cli, "__file__", None), "compiled": [f for f in compiled if f.endswith(".py")]}
    sys.stderr.write("\nHARNESS %r\n" % (found,))
atexit.register(report)
sys.path.insert(0, zipapp)
import _kubectl_usercert_zipapp
_kubectl_usercert_zipapp.run()
"""
MARKER = "TAMPERED-CODE-RAN"
TAMPERED_CLI = f'import sys\nprint("{MARKER}")\nsys.stderr.write("{MARKER}\\n")\ndef main():\n    print("{MARKER}")\n'
OTHER_UID = 12345


def run_zipapp(installed, cache_home, *args, env=None, umask=None, python="python3"):
    """The krew-installed zipapp through HARNESS, with XDG_CACHE_HOME=cache_home: (result, report)."""
    environment = dict(installed["env"], XDG_CACHE_HOME=str(cache_home), **(env or {}))
    result = subprocess.run(
        [python, "-c", HARNESS, str(installed["store"] / "kubectl-usercert"), *args],
        env=environment,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        umask=-1 if umask is None else umask,
    )  # set in the child, no Python code run there
    assert "HARNESS " in result.stderr, result.stderr
    return result, ast.literal_eval(result.stderr.rsplit("HARNESS ", 1)[1].strip())


def build_folder(cache_home):
    """The one build folder under cache_home (kubectl-usercert/zipapp/BUILD_ID-TAG)."""
    builds = list((Path(cache_home) / "kubectl-usercert" / "zipapp").iterdir())
    assert len(builds) == 1, builds
    return builds[0]


def tree(folder):
    """Everything under folder (itself included): path -> (type and mode, owner, size, mtime)."""
    found = {}
    for path, dirs, files in os.walk(folder):
        for name in [""] + dirs + files:
            info = os.lstat(os.path.join(path, name))
            found[os.path.relpath(os.path.join(path, name), folder)] = (
                info.st_mode,
                info.st_uid,
                info.st_size,
                info.st_mtime_ns,
            )
    return found


def assert_genuine(result, report, version=True):
    assert MARKER not in result.stdout + result.stderr
    assert result.returncode == 0, result.stderr
    if version:
        assert result.stdout.strip() == f"kubectl usercert {__version__}"


def test_later_runs_use_the_compiled_cache_even_without_bytecode_writing(krew_installed, tmp_path):
    cache_home = tmp_path / "cache"
    first, report = run_zipapp(krew_installed, cache_home, "--version")
    assert_genuine(first, report)
    folder = build_folder(cache_home)
    assert report["cli"] == str(folder / "kubectl_usercert" / "cli" / "__init__.py")
    tag = folder.name.split("-", 2)[2]  # VERSION-DIGEST-TAG
    assert (folder / "kubectl_usercert" / "cli" / "__pycache__" / f"__init__.{tag}.pyc").is_file()
    before = tree(folder)
    for env in ({}, {"PYTHONDONTWRITEBYTECODE": "1"}):
        for args in (["--version"], ["--help"]):
            result, report = run_zipapp(krew_installed, cache_home, *args, env=env)
            assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
            assert report["cli"] == str(folder / "kubectl_usercert" / "cli" / "__init__.py")
            # every module came from its bytecode: nothing of ours was compiled
            assert not [
                f for f in report["compiled"] if f.startswith(str(folder)) or PAYLOAD in f
            ], report
    after = tree(folder)
    after["."] = before["."]  # the folder's mtime marks the build as in use
    assert after == before


def test_the_cache_is_private_whatever_the_umask(krew_installed, tmp_path):
    cache_home = tmp_path / "cache"
    result, report = run_zipapp(krew_installed, cache_home, "--version", umask=0)
    assert_genuine(result, report)
    for name, (mode, uid, _, _) in tree(cache_home).items():
        assert uid == os.geteuid(), name
        assert (
            (stat.S_IMODE(mode) == 0o700)
            if stat.S_ISDIR(mode)
            else (stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600)
        ), (name, oct(mode))


@pytest.mark.parametrize(
    "how", ["source, bytecode removed", "source and its bytecode", "bytecode only"]
)
def test_a_tampered_cache_is_not_run(krew_installed, first_run_cache, how):
    cache_home = first_run_cache
    folder = build_folder(cache_home)
    cli = folder / "kubectl_usercert" / "cli" / "__init__.py"
    [pyc] = (folder / "kubectl_usercert" / "cli" / "__pycache__").glob("__init__.*.pyc")
    if how != "bytecode only":
        cli.write_text(TAMPERED_CLI)
    if how == "source, bytecode removed":
        pyc.unlink()
    else:  # bytecode compiled from the tampered source, by the Python that runs the zipapp
        source = folder / "tampered.py"
        source.write_text(TAMPERED_CLI)
        compiled = run(
            [
                "python3",
                "-c",
                "import py_compile, sys; py_compile.compile(sys.argv[1], sys.argv[2], "
                "invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH, doraise=True)",
                source,
                pyc,
            ],
            krew_installed["env"],
        )
        assert compiled.returncode == 0, compiled.stderr
        source.unlink()
    result, report = run_zipapp(krew_installed, cache_home, "--version")
    assert_genuine(result, report)
    assert "warning:" in result.stderr and "/kubectl_usercert/" in result.stderr, result.stderr
    result, report = run_zipapp(
        krew_installed, cache_home, "__complete", "cr"
    )  # the completion helper
    assert_genuine(result, report, version=False)
    completion = result.stdout.splitlines()
    assert completion[0].split("\t")[0] == "create" and completion[-1] == ":4"


def test_a_changed_data_file_sends_the_whole_run_to_the_zip(krew_installed, first_run_cache):
    cache_home = first_run_cache
    folder = build_folder(cache_home)
    [translation] = (folder / "plumbum").glob("cli/i18n/de/LC_MESSAGES/*.mo")
    translation.write_bytes(translation.read_bytes() + b"\0")
    result, report = run_zipapp(krew_installed, cache_home, "--version")
    assert_genuine(result, report)
    assert PAYLOAD in report["cli"]


def test_a_file_copied_with_the_same_bytes_is_still_used(krew_installed, first_run_cache):
    # its inode and ctime are new, its sha256 is the one recorded: not a tampered file
    cache_home = first_run_cache
    folder = build_folder(cache_home)
    [pyc] = (folder / "kubectl_usercert" / "cli" / "__pycache__").glob("__init__.*.pyc")
    data = pyc.read_bytes()
    pyc.unlink()
    pyc.write_bytes(data)
    pyc.chmod(0o600)
    result, report = run_zipapp(krew_installed, cache_home, "--version")
    assert_genuine(result, report)
    assert "warning" not in result.stderr
    assert report["cli"] == str(folder / "kubectl_usercert" / "cli" / "__init__.py")
    assert not [f for f in report["compiled"] if f.startswith(str(folder))]


def test_a_planted_build_folder_is_not_run(krew_installed, tmp_path):
    """A folder with this build's name made before the first run, holding a tampered cli/__init__.py
    (here by this user; anyone else's is refused by ownership)."""
    boot = zipfile.ZipFile(krew_installed["store"] / "kubectl-usercert").read(BOOT + ".py").decode()
    build_id = re.search(r'^BUILD_ID = "([^"]+)"', boot, re.M).group(1)
    tag = run(
        ["python3", "-c", "import sys; print(sys.implementation.cache_tag)"], krew_installed["env"]
    ).stdout.strip()
    planted = tmp_path / "cache" / "kubectl-usercert" / "zipapp" / f"{build_id}-{tag}"
    (planted / "kubectl_usercert" / "cli").mkdir(parents=True)
    for folder in (planted, *planted.parents):
        if folder == tmp_path:
            break
        folder.chmod(0o700)
    (planted / "kubectl_usercert" / "__init__.py").write_text(f'__version__ = "{MARKER}"\n')
    (planted / "kubectl_usercert" / "cli" / "__init__.py").write_text(TAMPERED_CLI)
    result, report = run_zipapp(krew_installed, tmp_path / "cache", "--version")
    assert_genuine(result, report)
    # it was ours and no run could have used it: replaced by a real one, used from then on
    result, report = run_zipapp(krew_installed, tmp_path / "cache", "--version")
    assert_genuine(result, report)
    assert report["cli"] == str(planted / "kubectl_usercert" / "cli" / "__init__.py")


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root, to give a folder to another user"
)


@needs_root
def test_a_cache_owned_by_another_user_is_neither_used_nor_written(
    krew_installed, first_run_cache, tmp_path
):
    """Root with another user's XDG_CACHE_HOME (`sudo -E`): that user could have put anything there."""
    cache_home = first_run_cache  # a complete cache...
    folder = build_folder(cache_home)
    (folder / "kubectl_usercert" / "cli" / "__init__.py").write_text(
        TAMPERED_CLI
    )  # ...then changed
    for pyc in (folder / "kubectl_usercert" / "cli" / "__pycache__").glob("__init__.*.pyc"):
        pyc.unlink()
    subprocess.run(["chown", "-R", str(OTHER_UID), str(cache_home)], check=True)
    before = tree(cache_home)
    result, report = run_zipapp(krew_installed, cache_home, "--version")
    assert_genuine(result, report)
    assert PAYLOAD in report["cli"]
    assert tree(cache_home) == before
    # an empty one: nothing is created in it
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)
    os.chown(empty, OTHER_UID, OTHER_UID)
    result, report = run_zipapp(krew_installed, empty, "--version")
    assert_genuine(result, report)
    assert list(empty.iterdir()) == []


@needs_root
def test_under_sudo_nothing_is_written_into_another_users_home(krew_installed, tmp_path):
    home = tmp_path / "alice"
    home.mkdir(mode=0o750)
    os.chown(home, OTHER_UID, OTHER_UID)
    env = dict(krew_installed["env"], HOME=str(home))
    env.pop("XDG_CACHE_HOME", None)
    result = run(
        ["python3", "-c", HARNESS, krew_installed["store"] / "kubectl-usercert", "--version"], env
    )
    assert_genuine(result, None)
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("where", ["cache root", "zipapp folder"])
def test_a_world_writable_cache_folder_is_refused_and_left_alone(krew_installed, tmp_path, where):
    """As made by `mkdir` under umask 000: anyone could swap what is inside."""
    cache_home = tmp_path / "cache"
    cache_home.mkdir(mode=0o700)
    open_folder = (
        cache_home if where == "cache root" else cache_home / "kubectl-usercert" / "zipapp"
    )
    open_folder.mkdir(parents=True, exist_ok=True)
    open_folder.chmod(0o777)
    before = tree(cache_home)
    result, report = run_zipapp(krew_installed, cache_home, "--version", umask=0)
    assert_genuine(result, report)
    assert PAYLOAD in report["cli"]
    assert tree(cache_home) == before
    assert stat.S_IMODE(open_folder.stat().st_mode) == 0o777  # not chmod-ed


def test_a_symlinked_cache_folder_is_refused(krew_installed, tmp_path):
    cache_home = tmp_path / "cache"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (cache_home / "kubectl-usercert").mkdir(parents=True, mode=0o700)
    (cache_home / "kubectl-usercert" / "zipapp").symlink_to(elsewhere)
    result, report = run_zipapp(krew_installed, cache_home, "--version")
    assert_genuine(result, report)
    assert PAYLOAD in report["cli"]
    assert list(elsewhere.iterdir()) == []


def installed_pythons():
    """One interpreter per Python version from 3.9 on found here (pyenv's, /usr's): version -> path."""
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = sorted(glob.glob(os.path.join(pyenv, "versions", "3.*", "bin", "python3")))
    candidates += sorted(
        glob.glob("/usr/bin/python3.*[0-9]") + glob.glob("/usr/local/bin/python3.*[0-9]")
    )
    found = {}
    for path in candidates:
        said = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if said.returncode == 0 and tuple(map(int, said.stdout.split("."))) >= (3, 9):
            found.setdefault(said.stdout.strip(), path)
    return found


def each_python_version_gets_its_own_bytecode(tmp_path, release, pythons, environment):
    """A scenario (see `ahead`): every Python version here runs the zipapp twice, in turn, with one cache."""
    if len(pythons) < 2:
        pytest.skip("needs two Python versions")
    bin_dir, store = krew_install(release[0], release[1], tmp_path / "krew")
    installed = {"store": store, "env": dict(environment, HOME=str(tmp_path))}
    cache_home = tmp_path / "cache"
    for _ in range(2):
        for version, python in pythons.items():
            result, report = run_zipapp(installed, cache_home, "--version", python=python)
            assert_genuine(result, report)
            assert "/kubectl-usercert/zipapp/" in report["cli"], (version, report)
    folders = sorted(
        p.name.rsplit("-", 1)[-1] for p in (cache_home / "kubectl-usercert" / "zipapp").iterdir()
    )
    assert folders == sorted("%d%d" % tuple(map(int, v.split("."))) for v in pythons)


def test_each_python_version_gets_its_own_bytecode(ahead):
    ahead.outcome(each_python_version_gets_its_own_bytecode)


def localedef_command(folder):
    """localedef building de_DE.UTF-8 into folder/locales (run in the background like the build)."""
    (folder / "locales").mkdir()
    return [
        shutil.which("localedef"),
        "-i",
        "de_DE",
        "-f",
        "UTF-8",
        folder / "locales" / "de_DE.UTF-8",
    ]


GERMAN_LOCALE = (
    Background("locales", localedef_command, needed_by="german_locale")
    if shutil.which("localedef") and os.path.isdir("/usr/share/i18n/locales")
    else None
)


@pytest.fixture(scope="module")
def german_locale():
    if GERMAN_LOCALE is None:
        pytest.skip("no localedef")
    made = GERMAN_LOCALE.wait()
    locales = GERMAN_LOCALE.folder / "locales"
    if not (locales / "de_DE.UTF-8").exists():
        pytest.skip("cannot build the de_DE locale: " + made.stdout)
    return {"LOCPATH": str(locales), "LC_ALL": "de_DE.UTF-8"}


@pytest.mark.parametrize("cache", ["unpacked", "in-zip"])
def test_zipapp_runs_under_a_non_english_locale(krew_installed, german_locale, cache):
    """plumbum loads its translations as files; inside a zip that breaks on Python 3.10 and 3.11."""
    env = dict(krew_installed["env"], **german_locale)
    if cache == "in-zip":
        env["XDG_CACHE_HOME"] = "/dev/null/cache"
    result = run([KUBECTL, "usercert", "create", "--help"], env)
    assert result.returncode == 0, result.stderr
    assert "--out-dir" in result.stdout


# The krew manifest


KREW_API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
WINDOWS_FORBIDDEN = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *("COM%d" % i for i in range(1, 10)),
    *("LPT%d" % i for i in range(1, 10)),
}
# k8s.io/apimachinery/pkg/util/version.ParseSemantic (krew's semver.Parse also wants the "v")
SEMVER = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
# <os, arch> pairs krew installs on (cmd/validate-krew-manifest allPlatforms, with today's arm64s)
# krew-index review: `kubectl krew search` shows this much of a shortDescription
SHORT_DESCRIPTION_LIMIT = 50
KREW_PLATFORMS = [
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
]


def selector_matches(selector, labels):
    """metav1.LabelSelectorAsSelector(selector).Matches(labels)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def selector_errors(selector):
    if not isinstance(selector, dict):
        return ["nil selector is not supported"]
    labels, expressions = selector.get("matchLabels"), selector.get("matchExpressions")
    if labels is None and not expressions:
        return ["empty selector is not supported"]
    errors = []
    keys = list(labels or {}) + [e.get("key") for e in expressions or []]
    errors += [f"key {key!r} not supported" for key in keys if key not in ("os", "arch")]
    if labels is not None and len(labels) == 0:
        errors.append("`matchLabels` specified but empty")
    if expressions is not None and len(expressions) == 0:
        errors.append("`matchExpressions` specified but empty")
    for expr in expressions or []:  # what LabelSelectorAsSelector refuses
        operator, values = expr.get("operator"), expr.get("values") or []
        if operator in ("In", "NotIn") and not values:
            errors.append(f"{operator} needs values")
        elif operator in ("Exists", "DoesNotExist") and values:
            errors.append(f"{operator} takes no values")
        elif operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errors.append(f"operator {operator!r} is not valid")
    return errors


def krew_errors(file_name, manifest):
    """Everything krew's index validation and validate-krew-manifest would refuse (or warn about)."""
    errors = []
    if not file_name.endswith(".yaml"):
        errors.append("manifest extension must be .yaml")
    name = file_name[: -len(".yaml")]
    if manifest.get("apiVersion") != KREW_API_VERSION:
        errors.append(f"apiVersion {manifest.get('apiVersion')!r}")
    if manifest.get("kind") != "Plugin":
        errors.append(f"kind {manifest.get('kind')!r}")
    if not re.fullmatch(r"[\w-]+", name, re.ASCII) or name.upper() in WINDOWS_FORBIDDEN:
        errors.append(f"plugin name {name!r} is not allowed")
    if (manifest.get("metadata") or {}).get("name") != name:
        errors.append("metadata.name differs from the file name")
    spec = manifest.get("spec") or {}
    short = spec.get("shortDescription") or ""
    if not short:
        errors.append("should have a short description")
    if "\r" in short or "\n" in short:
        errors.append("should not have line breaks in short description")
    if len(short) > SHORT_DESCRIPTION_LIMIT:
        errors.append(
            f"shortDescription longer than {SHORT_DESCRIPTION_LIMIT} characters (krew search cuts it)"
        )
    for field, limit in (("shortDescription", 70), ("description", 80), ("caveats", 80)):
        for line in (spec.get(field) or "").split("\n"):  # validateLineLength (a warning in krew)
            if len(line) > limit and " " in line.strip():
                errors.append(f"{field} line longer than {limit}: {line!r}")
    if not spec.get("description"):
        errors.append("should have a description")  # krew-index review asks for one
    if not str(spec.get("homepage", "")).startswith("https://"):
        errors.append("homepage")
    platforms = spec.get("platforms") or []
    if not platforms:
        errors.append("should have a platform specified")
    if not spec.get("version"):
        errors.append("should have a version specified")
    elif not SEMVER.match(str(spec["version"])):
        errors.append(f"failed to parse plugin version {spec['version']!r}")
    for index, platform in enumerate(platforms):
        where = f"platforms[{index}]"
        if not platform.get("uri"):
            errors.append(f"{where}: `uri` has to be set")
        elif not re.fullmatch(r"https://\S+\.(tar\.gz|tgz|zip)", platform["uri"]):
            errors.append(f"{where}: uri is not an https .tar.gz or .zip")
        if not platform.get("sha256"):
            errors.append(f"{where}: `sha256` sum has to be set")
        elif not re.fullmatch(r"[a-f0-9]{64}", str(platform["sha256"])):
            errors.append(f"{where}: `sha256` value is not valid")
        if not platform.get("bin"):
            errors.append(f"{where}: `bin` has to be set")
        files = platform.get("files")
        if files is not None:
            if len(files) == 0:
                errors.append(f"{where}: `files` has to be unspecified or non-empty")
            for operation in files:
                if not operation.get("from") or not operation.get("to"):
                    errors.append(f"{where}: `from` and `to` have to be set")
        selector_problems = selector_errors(platform.get("selector"))
        errors += [
            f"{where}: invalid platform selector: {problem}" for problem in selector_problems
        ]
        if not selector_problems and not any(
            selector_matches(platform["selector"], {"os": o, "arch": a}) for o, a in KREW_PLATFORMS
        ):
            errors.append(f"{where}: selector matches no supported platform")
    for os_name, arch in KREW_PLATFORMS:
        matching = [
            i
            for i, p in enumerate(platforms)
            if not selector_errors(p.get("selector"))
            and selector_matches(p["selector"], {"os": os_name, "arch": arch})
        ]
        if len(matching) > 1:
            errors.append(f"platforms {matching} overlap on {os_name}/{arch}")
    return errors


def project_errors(manifest):
    """This project's own rules: the zipapp is pure Python, so ONE platform, linux and darwin, any
    architecture (an arch selector would shut out arm and ppc64le users)."""
    platforms = manifest["spec"].get("platforms") or []
    if len(platforms) != 1:
        return [f"exactly one platform wanted, not {len(platforms)}"]
    selector = platforms[0].get("selector") or {}
    keys = list(selector.get("matchLabels") or {}) + [
        e.get("key") for e in selector.get("matchExpressions") or []
    ]
    errors = ["the platform selects an arch" for key in keys if key == "arch"]
    if selector != {
        "matchExpressions": [{"key": "os", "operator": "In", "values": ["darwin", "linux"]}]
    }:
        errors.append(f"the platform should select os In [darwin, linux], not {selector}")
    return errors


def load_manifest(release):
    _, manifest_path = release
    return manifest_path.name, yaml.safe_load(manifest_path.read_text())


def test_manifest_passes_krews_validation(release):
    file_name, manifest = load_manifest(release)
    assert krew_errors(file_name, manifest) == []


def test_manifest_has_one_platform_for_every_architecture(release):
    _, manifest = load_manifest(release)
    assert project_errors(manifest) == []
    # krew_install() finds it wherever krew runs on linux or darwin, and nowhere else
    for os_name, arch in [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "arm64"),
        ("darwin", "amd64"),
        ("linux", "arm"),
        ("linux", "ppc64le"),
    ]:
        assert krew_platform(manifest, os_name, arch) is manifest["spec"]["platforms"][0]
    assert not [
        p
        for p in manifest["spec"]["platforms"]
        if selector_matches(p["selector"], {"os": "windows", "arch": "amd64"})
    ]


def test_caveats_say_what_must_be_on_path(release):
    _, manifest = load_manifest(release)
    caveats = manifest["spec"]["caveats"]
    for needed in (
        "kubectl",
        "python3",
        "3.9 or newer",
        "openssl",
        "OpenSSL 1.1.1",
        "3.0.x (3.0.2 included)",
        "3.x",
        "LibreSSL",
        "3.3.6 or later",
        "macOS",
    ):
        assert needed in caveats, needed
    lines = caveat_completion_lines(manifest)
    assert "${KREW_ROOT:-~/.krew}/bin/kubectl_complete-usercert" in lines


@pytest.mark.parametrize("krew_root", [True, False])
def test_the_caveats_completion_lines_install_the_helper(release, tmp_path, krew_root):
    _, manifest = load_manifest(release)
    root = tmp_path / "krew" if krew_root else tmp_path / "home" / ".krew"
    (root / "bin").mkdir(parents=True)
    env = {"PATH": os.pathsep.join(SYSTEM_PATH), "HOME": str(tmp_path / "home")}
    if krew_root:
        env["KREW_ROOT"] = str(root)
    made = run(["sh", "-c", caveat_completion_lines(manifest)], env)
    assert made.returncode == 0, made.stderr
    helper = root / "bin" / "kubectl_complete-usercert"
    assert helper.read_text() == '#!/bin/sh\nexec kubectl-usercert __complete "$@"\n'
    assert os.access(helper, os.X_OK)


def test_manifest_describes_this_release(release):
    archive, _ = release
    _, manifest = load_manifest(release)
    assert manifest["metadata"]["name"] == "usercert"
    assert manifest["spec"]["version"] == TAG
    covered = {
        (o, a)
        for o, a in KREW_PLATFORMS
        for p in manifest["spec"]["platforms"]
        if selector_matches(p["selector"], {"os": o, "arch": a})
    }
    assert covered == {(o, a) for o, a in KREW_PLATFORMS if o in ("linux", "darwin")}
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    members = archive_members(archive)
    for platform in manifest["spec"]["platforms"]:
        assert platform["uri"] == RELEASE_URI
        assert platform["sha256"] == digest
        assert platform["bin"] == "kubectl-usercert"
        assert {op["from"] for op in platform["files"]} <= set(members)


def broken(manifest, change):
    manifest = copy.deepcopy(manifest)
    change(manifest)
    return manifest


@pytest.mark.parametrize(
    "change, complaint",
    [
        (lambda m: m["spec"].update(version=__version__), "failed to parse plugin version"),
        (lambda m: m["spec"].update(shortDescription="two\nlines"), "line breaks"),
        (
            lambda m: m["spec"].update(shortDescription="x" * (SHORT_DESCRIPTION_LIMIT + 1)),
            "longer than 50",
        ),
        (lambda m: m["metadata"].update(name="user cert"), "differs from the file name"),
        (
            lambda m: m["spec"]["platforms"][0].update(sha256="A" * 64),
            "`sha256` value is not valid",
        ),
        (lambda m: m["spec"]["platforms"][0].pop("bin"), "`bin` has to be set"),
        (
            lambda m: m["spec"]["platforms"][0].update(uri="https://example.com/plugin.exe"),
            "uri is not",
        ),
        (lambda m: m["spec"]["platforms"][0].update(selector={}), "empty selector"),
        (
            lambda m: m["spec"]["platforms"][0].update(
                selector={"matchLabels": {"distro": "debian"}}
            ),
            "not supported",
        ),
        (
            lambda m: m["spec"]["platforms"].append(
                dict(m["spec"]["platforms"][0], selector={"matchLabels": {"os": "linux"}})
            ),
            "overlap",
        ),
        (lambda m: m["spec"].update(platforms=[]), "should have a platform"),
        (
            lambda m: m["spec"]["platforms"][0].update(files=[]),
            "`files` has to be unspecified or non-empty",
        ),
    ],
)
def test_the_validation_catches_what_krew_refuses(release, change, complaint):
    file_name, manifest = load_manifest(release)
    errors = krew_errors(file_name, broken(manifest, change))
    assert any(complaint in error for error in errors), errors


@pytest.mark.parametrize(
    "change, complaint",
    [
        (
            lambda m: m["spec"]["platforms"].append(
                dict(m["spec"]["platforms"][0], selector={"matchLabels": {"os": "windows"}})
            ),
            "exactly one platform",
        ),
        (
            lambda m: m["spec"]["platforms"][0]["selector"]["matchExpressions"].append(
                {"key": "arch", "operator": "In", "values": ["amd64", "arm64"]}
            ),
            "selects an arch",
        ),
        (
            lambda m: m["spec"]["platforms"][0].update(
                selector={"matchLabels": {"os": "linux", "arch": "amd64"}}
            ),
            "selects an arch",
        ),
        (
            lambda m: m["spec"]["platforms"][0].update(selector={"matchLabels": {"os": "linux"}}),
            "os In [darwin, linux]",
        ),
    ],
)
def test_the_project_rules_catch_an_arch_bound_manifest(release, change, complaint):
    _, manifest = load_manifest(release)
    errors = project_errors(broken(manifest, change))
    assert any(complaint in error for error in errors), errors
