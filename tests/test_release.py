"""The release: release/build.py's archive installed as krew installs it, and its krew manifest.

The archive is built once per run into a temporary folder (pip fetches the dependencies), then
unpacked the way krew does and run through kubectl by a fresh virtualenv's python3 that has
none of the dependencies. The manifest is held to the rules of krew's validation
(internal/index/validation/validate.go and cmd/validate-krew-manifest), implemented below.
"""

import base64
import copy
import glob
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from conftest import ROOT
from kubectl_usercert import __version__

KUBECTL = shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl")
OPENSSL = shutil.which("openssl")
TAG = "v" + __version__
ARCHIVE_NAME = f"kubectl-usercert-{TAG}.tar.gz"
RELEASE_URI = f"https://github.com/kubectl-usercert/kubectl-usercert/releases/download/{TAG}/{ARCHIVE_NAME}"
SYSTEM_PATH = ["/usr/bin", "/bin"]

pytestmark = pytest.mark.skipif(KUBECTL is None or OPENSSL is None, reason="needs kubectl and openssl")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    manifest = out / "plugins" / "usercert.yaml"
    result = subprocess.run([sys.executable, str(ROOT / "release" / "build.py"), "--dist", str(out / "dist"),
                             "--manifest", str(manifest)], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    archive = out / "dist" / ARCHIVE_NAME
    assert archive.is_file(), os.listdir(out / "dist")
    return archive, manifest


def archive_members(archive):
    with tarfile.open(archive) as tar:
        return {member.name: (member, tar.extractfile(member).read() if member.isfile() else None)
                for member in tar.getmembers()}


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
    assert b"Apache License" in members["LICENSE"][1] and b"Version 2.0, January 2004" in members["LICENSE"][1]


def test_the_executable_is_a_zipapp_with_no_platform_specific_code(release):
    archive, _ = release
    app = archive_members(archive)["kubectl-usercert"][1]
    assert app.startswith(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(io.BytesIO(app)) as bundle:
        names = bundle.namelist()
    assert "__main__.py" in names and "kubectl_usercert/cli.py" in names
    assert "kubectl_usercert/completion.py" in names
    for package in ("plumbum/__init__.py", "yaml/__init__.py", "rich/__init__.py"):
        assert package in names
    native = [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
    assert native == []
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


# Installed as krew installs it, run by a python3 with nothing installed


def fresh_pythons():
    """The interpreter running the tests and, where there is one, a Python 3.9 (the oldest allowed)."""
    base = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    found = [pytest.param(base, id="python%d.%d" % sys.version_info[:2])]
    if sys.version_info[:2] != (3, 9):
        versions = {os.path.dirname(os.path.dirname(os.path.dirname(base))),  # pyenv: versions/X/bin/python
                    os.path.join(os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "versions")}
        candidates = sorted(c for folder in versions for c in glob.glob(os.path.join(folder, "3.9*/bin/python3.9")))
        candidates += [p for p in ("/usr/bin/python3.9", "/usr/local/bin/python3.9") if os.path.exists(p)]
        usable = [c for c in candidates if subprocess.run([c, "-c", "import venv"]).returncode == 0]
        found.append(pytest.param(usable[0] if usable else None, id="python3.9",
                                  marks=pytest.mark.skipif(not usable, reason="no Python 3.9 here")))
    return found


def krew_install(archive, manifest_path, krew_root):
    """What `kubectl krew install --manifest` does with our manifest: unpack the archive, apply
    `files` (from -> to) into the store, link `bin` into KREW_ROOT/bin."""
    manifest = yaml.safe_load(Path(manifest_path).read_text())
    platform = next(p for p in manifest["spec"]["platforms"]
                    if selector_matches(p["selector"], {"os": "linux", "arch": "amd64"}))
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
    """The plugin installed krew-style, and an environment whose python3 has no dependencies."""
    python = request.param
    base = tmp_path_factory.mktemp("krew")
    archive, manifest = release
    bin_dir, store = krew_install(archive, manifest, base / "krew")
    venv = base / "venv"
    made = subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    home = base / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "XDG_", "KUBECONFIG", "VIRTUAL_ENV", "USERCERT_"))}
    env.update(HOME=str(home), NO_COLOR="1",
               PATH=os.pathsep.join([str(venv / "bin"), str(bin_dir), *SYSTEM_PATH]))
    return {"env": env, "home": home, "bin": bin_dir, "store": store, "python": python}


def run(command, env, cwd=None):
    return subprocess.run([str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)


def test_fresh_python_has_none_of_the_dependencies(krew_installed):
    for module in ("plumbum", "rich", "yaml"):
        result = run(["python3", "-c", f"import {module}"], krew_installed["env"])
        assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr, module


def test_kubectl_runs_the_released_plugin(krew_installed, tmp_path):
    env = krew_installed["env"]
    version = run([KUBECTL, "usercert", "--version"], env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"kubectl usercert {__version__}"

    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/CN=release-test-ca",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   cwd=tmp_path, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    created = run([KUBECTL, "usercert", "create", "alice", "dev", "--ca-cert", "ca.crt", "--ca-key", "ca.key",
                   "--server", "https://127.0.0.1:6443"], env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    config = yaml.safe_load((tmp_path / "clients" / "alice" / "kubeconfig").read_text())
    cert = x509.load_pem_x509_certificate(
        base64.b64decode(config["users"][0]["user"]["client-certificate-data"]))
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["dev"]
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


def test_completion_from_the_release_through_kubectl(krew_installed, tmp_path):
    env = krew_installed["env"]
    # The helper from the archive, linked next to the plugin, and the caveat's wrapper script.
    helper = krew_installed["bin"] / "kubectl_complete-usercert"
    for way in ("link", "wrapper"):
        if helper.exists() or helper.is_symlink():
            helper.unlink()
        if way == "link":
            helper.symlink_to(krew_installed["store"] / "kubectl_complete-usercert")
        else:
            helper.write_text('#!/bin/sh\nexec kubectl-usercert __complete "$@"\n')
            helper.chmod(0o755)
        result = run([KUBECTL, "__complete", "usercert", "cr"], env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0].split("\t")[0] == "create", (way, result.stdout)
        assert result.stdout.splitlines()[-1] == ":4"
        flags = run([KUBECTL, "__complete", "usercert", "create", "--key-t"], env, cwd=tmp_path)
        assert [line.split("\t")[0] for line in flags.stdout.splitlines()] == ["--key-type", ":4"], way
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
    assert (result.returncode, result.stdout.strip()) == (0, f"kubectl usercert {__version__}"), result.stderr


@pytest.fixture(scope="module")
def german_locale(tmp_path_factory):
    localedef = shutil.which("localedef")
    if not localedef or not os.path.isdir("/usr/share/i18n/locales"):
        pytest.skip("no localedef")
    folder = tmp_path_factory.mktemp("locales")
    made = subprocess.run([localedef, "-i", "de_DE", "-f", "UTF-8", str(folder / "de_DE.UTF-8")],
                          capture_output=True, text=True)
    if not (folder / "de_DE.UTF-8").exists():
        pytest.skip("cannot build the de_DE locale: " + made.stderr)
    return {"LOCPATH": str(folder), "LC_ALL": "de_DE.UTF-8"}


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
WINDOWS_FORBIDDEN = {"CON", "PRN", "AUX", "NUL", *("COM%d" % i for i in range(1, 10)),
                     *("LPT%d" % i for i in range(1, 10))}
# k8s.io/apimachinery/pkg/util/version.ParseSemantic (krew's semver.Parse also wants the "v")
SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
# <os, arch> pairs krew installs on (cmd/validate-krew-manifest allPlatforms, with today's arm64s)
KREW_PLATFORMS = [("windows", "386"), ("windows", "amd64"), ("windows", "arm64"), ("linux", "386"),
                  ("linux", "amd64"), ("linux", "arm"), ("linux", "arm64"), ("linux", "ppc64le"),
                  ("darwin", "386"), ("darwin", "amd64"), ("darwin", "arm64")]


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
    name = file_name[:-len(".yaml")]
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
        errors += [f"{where}: invalid platform selector: {problem}" for problem in selector_problems]
        if not selector_problems and not any(selector_matches(platform["selector"], {"os": o, "arch": a})
                                             for o, a in KREW_PLATFORMS):
            errors.append(f"{where}: selector matches no supported platform")
    for os_name, arch in KREW_PLATFORMS:
        matching = [i for i, p in enumerate(platforms) if not selector_errors(p.get("selector"))
                    and selector_matches(p["selector"], {"os": os_name, "arch": arch})]
        if len(matching) > 1:
            errors.append(f"platforms {matching} overlap on {os_name}/{arch}")
    return errors


def load_manifest(release):
    _, manifest_path = release
    return manifest_path.name, yaml.safe_load(manifest_path.read_text())


def test_manifest_passes_krews_validation(release):
    file_name, manifest = load_manifest(release)
    assert krew_errors(file_name, manifest) == []


def test_manifest_describes_this_release(release):
    archive, _ = release
    _, manifest = load_manifest(release)
    assert manifest["metadata"]["name"] == "usercert"
    assert manifest["spec"]["version"] == TAG
    covered = {(o, a) for o, a in KREW_PLATFORMS for p in manifest["spec"]["platforms"]
               if selector_matches(p["selector"], {"os": o, "arch": a})}
    assert covered == {("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")}
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


@pytest.mark.parametrize("change, complaint", [
    (lambda m: m["spec"].update(version=__version__), "failed to parse plugin version"),
    (lambda m: m["spec"].update(shortDescription="two\nlines"), "line breaks"),
    (lambda m: m["metadata"].update(name="user cert"), "differs from the file name"),
    (lambda m: m["spec"]["platforms"][0].update(sha256="A" * 64), "`sha256` value is not valid"),
    (lambda m: m["spec"]["platforms"][0].pop("bin"), "`bin` has to be set"),
    (lambda m: m["spec"]["platforms"][0].update(uri="https://example.com/plugin.exe"), "uri is not"),
    (lambda m: m["spec"]["platforms"][0].update(selector={}), "empty selector"),
    (lambda m: m["spec"]["platforms"][0].update(selector={"matchLabels": {"distro": "debian"}}), "not supported"),
    (lambda m: m["spec"]["platforms"][1].update(selector={"matchLabels": {"os": "linux"}}), "overlap"),
    (lambda m: m["spec"].update(platforms=[]), "should have a platform"),
    (lambda m: m["spec"]["platforms"][0].update(files=[]), "`files` has to be unspecified or non-empty"),
])
def test_the_validation_catches_what_krew_refuses(release, change, complaint):
    file_name, manifest = load_manifest(release)
    errors = krew_errors(file_name, broken(manifest, change))
    assert any(complaint in error for error in errors), errors
