"""The release's dependencies: setup.cfg's install_requires, pip-installed for the oldest Python
that setup.cfg allows, with nothing platform-specific left (the zipapp runs on any platform)."""

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

EXTENSION_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")


def setup_cfg_requirements(root):
    """install_requires and the lowest Python of python_requires (">=3.9" -> "3.9")."""
    config = configparser.ConfigParser()
    config.read(os.path.join(root, "setup.cfg"), encoding="utf-8")
    requirements = [
        line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()
    ]
    match = re.search(r">=\s*(\d+\.\d+)", config["options"].get("python_requires", ""))
    return requirements, (match.group(1) if match else "3.9")


def install_dependencies(requirements, min_python, site):
    """pip-install the dependencies for `min_python` into `site`; return the name==version pins.

    pip's --python-version picks wheels and markers for that Python, but trusts the index to
    leave out releases whose Requires-Python excludes it; a mirror that does not say so can
    hand out a too-new release. Each resolution is checked, and a release that does not run
    on `min_python` is excluded before resolving again.
    """
    target = [
        "--only-binary=:all:",
        "--python-version",
        min_python,
        "--target",
        site,
        "--no-compile",
    ]
    extra = []
    for _ in range(20):
        with tempfile.TemporaryDirectory() as scratch:
            report_path = os.path.join(scratch, "report.json")
            pip(
                "install",
                "--dry-run",
                "--ignore-installed",
                "--report",
                report_path,
                *target,
                *requirements,
                *extra,
            )
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
    result = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},
    )
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
            if (
                name.endswith(EXTENSION_SUFFIXES)
                or name.endswith(".pyc")
                or (name == "RECORD" and folder.endswith(".dist-info"))
            ):
                os.remove(os.path.join(folder, name))
