#!/usr/bin/env python3
"""Build a release: the plugin as one executable zipapp in a .tar.gz, and its krew manifest.

    python3 release/build.py [--dist DIR] [--manifest FILE]

writes DIR/kubectl-usercert-vX.Y.Z.tar.gz (default DIR: dist/) holding
  kubectl-usercert            a zipapp with the package and its pure-Python dependencies; it
                              runs on any python3 >= 3.9 with nothing pip-installed
  kubectl_complete-usercert   kubectl's completion helper, a small script that runs the zipapp
  LICENSE
and FILE (default plugins/usercert.yaml), the krew manifest pointing at the GitHub release.

Dependencies come from setup.cfg (install_requires) through pip, resolved for the oldest Python
that setup.cfg allows. C extensions are dropped (PyYAML then uses its pure-Python code). The
archive is reproducible: the same sources and dependency versions give the same sha256
(timestamps come from SOURCE_DATE_EPOCH, default 1980-01-01).
"""

import argparse
import configparser
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "kubectl_usercert"
PLUGIN = "usercert"
REPOSITORY = "https://github.com/kubectl-usercert/kubectl-usercert"
BOOT_MODULE = "_kubectl_usercert_zipapp"
EXTENSION_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
PLATFORMS = (("linux", ("amd64", "arm64")), ("darwin", ("amd64", "arm64")))

# The zipapp's entry. It must parse on any Python 3, so it can say which version it needs.
MAIN_PY = """\
# kubectl-usercert {version}: a zipapp, see {boot}.py
import sys

if sys.version_info < (3, 9):
    sys.stderr.write("error: kubectl-usercert needs Python 3.9 or newer, python3 here is %d.%d\\n"
                     "hint: install a newer python3 and put it first on PATH\\n" % sys.version_info[:2])
    sys.exit(1)

import {boot}

{boot}.run()
"""

BOOT_PY = '''\
"""Start kubectl-usercert from its zipapp.

The first run of a build unpacks the zipapp into the user's cache
(${{XDG_CACHE_HOME:-~/.cache}}/kubectl-usercert/zipapp/BUILD_ID) and later runs import from
there: Python caches bytecode for files but not inside a zip (a run from the zip compiles
every module again), and package data are real files. Where nothing can be written, modules
are imported from the zip itself.
"""

import os
import shutil
import sys
import tempfile
import time
import zipfile

VERSION = "{version}"
BUILD_ID = "{build_id}"
STALE_SECONDS = 30 * 24 * 3600  # other builds' folders unused for this long are removed


def run(entry=None):
    """Run the CLI, or the completion helper when called as kubectl_complete-usercert."""
    archive = os.path.dirname(os.path.abspath(__file__))
    unpacked = _unpacked(archive)
    if unpacked:
        sys.path[:] = [unpacked if p == archive else p for p in sys.path]
        if unpacked not in sys.path:
            sys.path.insert(0, unpacked)
    else:
        _plumbum_messages_in_english()
    args = sys.argv[1:]
    if entry is None:
        called_as = os.path.basename(sys.argv[0])
        entry = "completion" if called_as.startswith("kubectl_complete") else "cli"
        if entry == "cli" and args[:1] == ["__complete"]:  # cobra's convention, for wrappers
            entry, args = "completion", args[1:]
    if entry == "completion":
        from kubectl_usercert.completion import main as complete
        sys.exit(complete(args))
    from kubectl_usercert.cli import main
    main()


def _unpacked(archive):
    """The folder holding this build's files, unpacked once; None where that cannot be."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(cache, "kubectl-usercert", "zipapp")
    target = os.path.join(root, BUILD_ID)
    if os.path.isdir(target):
        _touch(target)
        return target
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        staging = tempfile.mkdtemp(prefix="." + BUILD_ID + ".", dir=root)
    except OSError:
        return None
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(staging)
        os.rename(staging, target)  # all at once: a folder named BUILD_ID is complete
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another run may have been first
        return target if os.path.isdir(target) else None
    _remove_stale(root)
    return target


def _touch(path):
    try:
        os.utime(path)  # marks this build as in use
    except OSError:
        pass


def _remove_stale(root):
    now = time.time()
    for name in os.listdir(root):
        path = os.path.join(root, name)
        try:
            stale = name != BUILD_ID and now - os.stat(path).st_mtime > STALE_SECONDS
        except OSError:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)


def _plumbum_messages_in_english():
    """plumbum reads its translations through importlib.resources.as_file on a folder, which
    fails inside a zip on Python 3.10 and 3.11 under a non-English locale; keep its English."""
    import locale

    getlocale = locale.getlocale
    locale.getlocale = lambda *args, **kwargs: (None, None)
    try:
        import plumbum.cli.i18n  # noqa: F401
    finally:
        locale.getlocale = getlocale
'''

COMPLETER = """\
#!/usr/bin/env python3
# kubectl usercert: shell completion helper, run by kubectl (1.26+) as
# `kubectl_complete-usercert WORDS...`; it runs the kubectl-usercert zipapp in its folder.
import os
import sys

if sys.version_info < (3, 9):
    sys.exit(1)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "kubectl-usercert"))
import {boot}  # noqa: E402

{boot}.run("completion")
"""

MANIFEST = """\
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: {plugin}
spec:
  version: {tag}
  homepage: {homepage}
  shortDescription: Issue X.509 client certificates and kubeconfigs for users
  description: |
    Gives a person access to a cluster with an X.509 client certificate:
    `kubectl usercert create alice developers` makes a key, a certificate with
    CN=alice and O=developers signed by the cluster's CA, and a self-contained
    kubeconfig in clients/alice/. Names are validated so that the certificate
    holds exactly the user and groups asked for; keys and kubeconfigs are
    private (0600); nothing is overwritten without --force.
  caveats: |
    Needs python3 (3.9 or newer) and openssl on PATH.

    Shell completion (kubectl 1.26+) needs a helper on PATH:
      printf '#!/bin/sh\\nexec kubectl-usercert __complete "$@"\\n' \\
        > ~/.krew/bin/kubectl_complete-usercert
      chmod +x ~/.krew/bin/kubectl_complete-usercert
  platforms:
{platforms}"""

PLATFORM = """\
  - selector:
      matchExpressions:
      - key: os
        operator: In
        values: [{os}]
      - key: arch
        operator: In
        values: [{archs}]
    uri: {uri}
    sha256: {sha256}
    bin: kubectl-usercert
    files:
    - from: kubectl-usercert
      to: .
    - from: kubectl_complete-usercert
      to: .
    - from: LICENSE
      to: .
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the release archive and krew manifest.")
    parser.add_argument("--dist", default=os.path.join(ROOT, "dist"), help="where the archive goes")
    parser.add_argument("--manifest", default=os.path.join(ROOT, "plugins", PLUGIN + ".yaml"),
                        help="the krew manifest to write")
    args = parser.parse_args(argv)

    version = package_version()
    tag = "v" + version
    requirements, min_python = setup_cfg_requirements()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    with tempfile.TemporaryDirectory(prefix="usercert-release.") as work:
        site = os.path.join(work, "site")
        pins = install_dependencies(requirements, min_python, site)
        drop_platform_files(site)
        shutil.copytree(os.path.join(ROOT, "lib", PACKAGE), os.path.join(site, PACKAGE),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        app = zipapp_bytes(site, version, epoch)

    name = f"kubectl-usercert-{tag}.tar.gz"
    os.makedirs(args.dist, exist_ok=True)
    archive = os.path.join(args.dist, name)
    with open(os.path.join(ROOT, "LICENSE"), "rb") as handle:
        license_text = handle.read()
    files = [("kubectl-usercert", app, 0o755),
             ("kubectl_complete-usercert", COMPLETER.format(boot=BOOT_MODULE).encode(), 0o755),
             ("LICENSE", license_text, 0o644)]
    write_tar_gz(archive, files, epoch)
    with open(archive, "rb") as handle:
        sha256 = hashlib.sha256(handle.read()).hexdigest()

    uri = f"{REPOSITORY}/releases/download/{tag}/{name}"
    platforms = "".join(PLATFORM.format(os=os_name, archs=", ".join(archs), uri=uri, sha256=sha256)
                        for os_name, archs in PLATFORMS)
    manifest = MANIFEST.format(plugin=PLUGIN, tag=tag, homepage=REPOSITORY, platforms=platforms)
    os.makedirs(os.path.dirname(os.path.abspath(args.manifest)), exist_ok=True)
    with open(args.manifest, "w", encoding="utf-8") as handle:
        handle.write(manifest)

    print(f"dependencies: {', '.join(pins)} (for Python {min_python}+)")
    print(f"archive:      {_shown(archive)} ({os.path.getsize(archive) // 1024} KiB)")
    print(f"sha256:       {sha256}")
    print(f"manifest:     {_shown(args.manifest)}")
    print(f"upload the archive as {uri}")
    return 0


def _shown(path):
    """A path relative to the current folder when it is inside it, else absolute."""
    path = os.path.abspath(path)
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def package_version():
    with open(os.path.join(ROOT, "lib", PACKAGE, "__init__.py"), encoding="utf-8") as handle:
        match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', handle.read(), re.M)
    if not match or not re.fullmatch(r"\d+\.\d+\.\d+", match.group(1)):
        sys.exit(f"error: no X.Y.Z __version__ in lib/{PACKAGE}/__init__.py")
    return match.group(1)


def setup_cfg_requirements():
    """install_requires and the lowest Python of python_requires (">=3.9" -> "3.9")."""
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"), encoding="utf-8")
    requirements = [line.strip() for line in config["options"]["install_requires"].splitlines()
                    if line.strip()]
    match = re.search(r">=\s*(\d+\.\d+)", config["options"].get("python_requires", ""))
    return requirements, (match.group(1) if match else "3.9")


def install_dependencies(requirements, min_python, site):
    """pip-install the dependencies for `min_python` into `site`; return the name==version pins.

    pip's --python-version picks wheels and markers for that Python, but trusts the index to
    leave out releases whose Requires-Python excludes it; a mirror that does not say so can
    hand out a too-new release. Each resolution is checked, and a release that does not run
    on `min_python` is excluded before resolving again.
    """
    target = ["--only-binary=:all:", "--python-version", min_python, "--target", site, "--no-compile"]
    extra = []
    for _ in range(20):
        with tempfile.TemporaryDirectory() as scratch:
            report_path = os.path.join(scratch, "report.json")
            pip("install", "--dry-run", "--ignore-installed", "--report", report_path,
                *target, *requirements, *extra)
            with open(report_path, encoding="utf-8") as handle:
                report = json.load(handle)
        chosen, too_new = [], []
        for item in report["install"]:
            meta = item["metadata"]
            name, version = meta["name"], meta["version"]
            chosen.append(f"{name}=={version}")
            if not python_admits(meta.get("requires_python") or "", min_python):
                too_new.append(f"{name}<{version}")
        if not too_new:
            pip("install", "--no-deps", *target, *chosen)
            return sorted(chosen, key=str.lower)
        extra += too_new
    sys.exit(f"error: no dependency set runs on Python {min_python}: {', '.join(extra)}")


def python_admits(specifier, python_version):
    if not specifier.strip():
        return True
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:
        from pip._vendor.packaging.specifiers import SpecifierSet
    return SpecifierSet(specifier).contains(python_version, prereleases=True)


def pip(*args):
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"})
    if result.returncode != 0:
        sys.stderr.write(result.stdout.decode(errors="replace")[-4000:])
        sys.exit(f"error: pip {args[0]} failed (output above)")


def drop_platform_files(site):
    """Leave only what runs on every platform: no extension modules, scripts or bytecode, and
    no RECORD files (pip's uninstall lists, which name what was dropped and the build's Python)."""
    shutil.rmtree(os.path.join(site, "bin"), ignore_errors=True)
    for folder, dirs, files in os.walk(site, topdown=True):
        for name in list(dirs):
            if name == "__pycache__":
                shutil.rmtree(os.path.join(folder, name))
                dirs.remove(name)
        for name in files:
            if name.endswith(EXTENSION_SUFFIXES) or name.endswith(".pyc") or (
                    name == "RECORD" and folder.endswith(".dist-info")):
                os.remove(os.path.join(folder, name))


def zipapp_bytes(site, version, epoch):
    """An executable zip: `#!/usr/bin/env python3`, then every file under `site`, sorted."""
    entries = []
    for folder, dirs, files in os.walk(site):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                entries.append((os.path.relpath(path, site).replace(os.sep, "/"), handle.read()))
    digest = hashlib.sha256()
    for arcname, data in entries:
        digest.update(arcname.encode() + b"\0" + hashlib.sha256(data).digest())
    build_id = f"{version}-{digest.hexdigest()[:16]}"
    entries.append((f"{BOOT_MODULE}.py", BOOT_PY.format(version=version, build_id=build_id).encode()))
    entries.append(("__main__.py", MAIN_PY.format(version=version, boot=BOOT_MODULE).encode()))

    date_time = _zip_date_time(epoch)
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for arcname, data in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, so the permissions above count
            bundle.writestr(info, data)
    return buffer.getvalue()


def _zip_date_time(epoch):
    import time

    stamp = time.gmtime(max(epoch, 315532800))  # zip cannot say anything before 1980
    return stamp[:6]


def write_tar_gz(path, files, epoch):
    """A tar.gz of regular files at the top level: what krew's extractor accepts."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, epoch
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    partial = path + ".partial"
    with open(partial, "wb") as handle:
        with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=epoch, compresslevel=9) as gz:
            gz.write(raw.getvalue())
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main())
