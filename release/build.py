#!/usr/bin/env python3
"""Build a release: the plugin as one executable zipapp in a .tar.gz, and its krew manifest.

    python3 release/build.py [--dist DIR] [--manifest FILE]

writes DIR/kubectl-usercert-vX.Y.Z.tar.gz (default DIR: dist/) holding
  kubectl-usercert            a zipapp with the package and its pure-Python dependencies; it
                              runs on any python3 >= 3.9 with nothing pip-installed
  kubectl_complete-usercert   kubectl's completion helper, a small script that runs the zipapp
                              (release/kubectl_complete-usercert)
  LICENSE
and FILE (default plugins/usercert.yaml), the krew manifest pointing at the GitHub release
(release/krew.py).

The zipapp is a zip of five entries, because Python reads every entry of a zipapp's directory
on every start: __main__.py; the boot module, which Python compiles on every run, so it only
checks the cache and loads the runtime's bytecode from it; the runtime module (importing from the
cache or the zip); and the payload, a zip of the package, its dependencies and the zipapp's own
modules, with its sha256 manifest. The zipapp's code is in release/zipapp/, each file under the
name it has in the zipapp; this builder sets the boot module's two per-build values (the build id
and the manifest's digest) and checks them. The first run of a build for a given Python unpacks
the payload into the user's cache, checked against the manifest, and compiles it there; later
runs import the compiled files from there after checking that nobody else could have changed them
(see zipapp/_kubectl_usercert_zipapp_runtime.py). Where no cache can be used safely, modules come
from the zip itself.

Dependencies come from setup.cfg (install_requires) through pip, resolved for the oldest Python
that setup.cfg allows (release/dependencies.py). C extensions are dropped (PyYAML then uses its
pure-Python code). The archive is reproducible: the same sources and dependency versions give the
same sha256 (timestamps come from SOURCE_DATE_EPOCH, default 1980-01-01).
"""

import argparse
import ast
import hashlib
import os
import re
import shutil
import sys
import tempfile

import archives
import dependencies
import krew

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PACKAGE = "kubectl_usercert"
ZIPAPP = os.path.join(HERE, "zipapp")  # the zipapp's own files, named as in the zipapp
COMPLETER = os.path.join(HERE, "kubectl_complete-usercert")
BOOT_MODULE = "_kubectl_usercert_zipapp"
RUNTIME_MODULE = BOOT_MODULE + "_runtime"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the release archive and krew manifest.")
    parser.add_argument("--dist", default=os.path.join(ROOT, "dist"), help="where the archive goes")
    parser.add_argument(
        "--manifest",
        default=os.path.join(ROOT, "plugins", krew.PLUGIN + ".yaml"),
        help="the krew manifest to write",
    )
    args = parser.parse_args(argv)

    version = package_version()
    tag = "v" + version
    requirements, min_python = dependencies.setup_cfg_requirements(ROOT)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", str(archives.ZIP_EPOCH)))
    with tempfile.TemporaryDirectory(prefix="usercert-release.") as work:
        site = os.path.join(work, "site")
        pins = dependencies.install_dependencies(requirements, min_python, site)
        dependencies.drop_platform_files(site)
        shutil.copytree(
            os.path.join(ROOT, "lib", PACKAGE),
            os.path.join(site, PACKAGE),
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        app = zipapp_bytes(site, version, epoch)

    name = f"kubectl-usercert-{tag}.tar.gz"
    os.makedirs(args.dist, exist_ok=True)
    archive = os.path.join(args.dist, name)
    files = [
        ("kubectl-usercert", app, 0o755),
        ("kubectl_complete-usercert", read_bytes(COMPLETER), 0o755),
        ("LICENSE", read_bytes(os.path.join(ROOT, "LICENSE")), 0o644),
    ]
    archives.write_tar_gz(archive, files, epoch)
    sha256 = hashlib.sha256(read_bytes(archive)).hexdigest()

    uri = krew.release_uri(tag, name)
    os.makedirs(os.path.dirname(os.path.abspath(args.manifest)), exist_ok=True)
    with open(args.manifest, "w", encoding="utf-8") as handle:
        handle.write(krew.manifest(tag, uri, sha256))

    print(f"dependencies: {', '.join(pins)} (for Python {min_python}+)")
    print(f"archive:      {_shown(archive)} ({os.path.getsize(archive) // 1024} KiB)")
    print(f"sha256:       {sha256}")
    print(f"manifest:     {_shown(args.manifest)}")
    print(
        f"try it:       kubectl krew install --manifest={_shown(args.manifest)} --archive={_shown(archive)}"
    )
    print(f"upload the archive as {uri}")
    return 0


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


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


def zipapp_modules():
    """{file name: bytes} of the zipapp's own modules in release/zipapp/ but __main__.py."""
    return {
        name: read_bytes(os.path.join(ZIPAPP, name))
        for name in sorted(os.listdir(ZIPAPP))
        if name.startswith(BOOT_MODULE) and name.endswith(".py")
    }


def zipapp_bytes(site, version, epoch):
    """The executable: `#!/usr/bin/env python3`, then a zip of __main__.py, the boot and runtime
    modules, the payload (every file under `site` and the zipapp's modules but the boot, sorted)
    and its manifest."""
    modules = zipapp_modules()
    boot_name = BOOT_MODULE + ".py"
    for name, source in modules.items():
        if name != boot_name:
            with open(os.path.join(site, name), "wb") as handle:
                handle.write(source)
    entries = []
    for folder, dirs, files in os.walk(site):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            entries.append((os.path.relpath(path, site).replace(os.sep, "/"), read_bytes(path)))
    entries.sort()
    check_packages([name for name, _ in entries])
    manifest = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in entries
    ).encode()
    manifest_sha256 = hashlib.sha256(manifest).hexdigest()
    build_id = f"{version}-{manifest_sha256[:16]}"

    runtime_names = string_constants(modules[RUNTIME_MODULE + ".py"].decode())
    boot = with_build_values(
        modules[boot_name].decode(), BUILD_ID=build_id, MANIFEST_SHA256=manifest_sha256
    )
    outer = [
        ("__main__.py", read_bytes(os.path.join(ZIPAPP, "__main__.py"))),
        (boot_name, boot.encode()),
        (RUNTIME_MODULE + ".py", modules[RUNTIME_MODULE + ".py"]),
        (runtime_names["MANIFEST"], manifest),
        (runtime_names["PAYLOAD"], archives.zip_bytes(entries, epoch)),
    ]
    # stored, not deflated: the payload's entries are deflated already, and the rest is read on
    # every start (without zlib, which Python would otherwise import for it)
    return b"#!/usr/bin/env python3\n" + archives.zip_bytes(
        outer, epoch, stored=[name for name, _ in outer]
    )


def with_build_values(source, **values):
    """The boot module's `source` with each `NAME = "..."` line of `values` set to this build's
    value; each must be there exactly once, and the result must say exactly that."""
    for name, value in values.items():
        line = re.compile(r'^%s = "[^"\n]*"$' % re.escape(name), re.M)
        setting = f'{name} = "{value}"'
        source, count = line.subn(lambda _, setting=setting: setting, source)
        if count != 1:
            raise ValueError(f"{name} is set {count} times in the boot module, not once")
    said = string_constants(source)
    wrong = {name: said.get(name) for name, value in values.items() if said.get(name) != value}
    if wrong:
        raise ValueError(f"the boot module says {wrong}, not the build's values")
    return source


def string_constants(source):
    """{NAME: value} of a module's top-level `NAME = "string"` assignments."""
    found = {}
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found[node.targets[0].id] = node.value.value
    return found


def check_packages(names):
    """Every folder holding Python modules is a regular package (has __init__.py): the zipapp's
    importers find modules by the manifest's names and do not implement namespace packages."""
    present = set(names)
    for name in names:
        parts = name.split("/")
        if name.endswith(".py") and not parts[0].endswith(".dist-info"):
            for depth in range(1, len(parts)):
                package = "/".join(parts[:depth])
                if package + "/__init__.py" not in present:
                    sys.exit(
                        f"error: {package}/ holds {name} but has no __init__.py (a namespace "
                        f"package, which the zipapp cannot import)"
                    )


if __name__ == "__main__":
    sys.exit(main())
