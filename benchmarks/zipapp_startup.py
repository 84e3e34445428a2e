#!/usr/bin/env python3
"""Start-up time of the release zipapp against a virtualenv install, side by side.

    python3 benchmarks/zipapp_startup.py [--archive dist/kubectl-usercert-vX.Y.Z.tar.gz] [--runs N]

Builds the release with release/build.py (or takes --archive: the .tar.gz or the zipapp itself),
installs this checkout into a throwaway virtualenv the way install.sh does (pip install of a
copy of setup.cfg, pyproject.toml, README.md, LICENSE and lib/; pip compiles the bytecode), and
times `kubectl-usercert --version` and `--help` for
  venv install                     the virtualenv's kubectl-usercert
  zipapp, warm cache               the zipapp run by the same Python in a virtualenv made the
                                   same way but with nothing installed, its cache unpacked
  zipapp, warm cache, no bytecode  the same with PYTHONDONTWRITEBYTECODE=1
  zipapp, no usable cache          XDG_CACHE_HOME where nothing can be written: runs from the zip
alternating the variants within each round (the order rotates), and prints the medians of wall
time and of CPU time (user + system, less disturbed by other work on the machine) and their
ratios to the venv install; then the first run of a build (unpacking and compiling into an empty
cache), a few times. Everything happens in a temporary folder with its own HOME. It is a
measurement, not a test: it exits 0 whatever the figures are (2 if it cannot measure at all).
"""

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = (["--version"], ["--help"])
VARIANTS = (
    "venv install",
    "zipapp, warm cache",
    "zipapp, warm cache, no bytecode",
    "zipapp, no usable cache",
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--archive", help="a release .tar.gz, or the kubectl-usercert zipapp (default: build one)"
    )
    parser.add_argument(
        "--runs", type=int, default=15, help="timed runs per variant and command (default 15)"
    )
    parser.add_argument(
        "--first-runs", type=int, default=3, help="timed first runs into an empty cache (default 3)"
    )
    parser.add_argument(
        "--python",
        default=base_python(),
        help="the Python for both the virtualenv and the zipapp (default: the one running this)",
    )
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="usercert-bench.")
    try:
        return measure(args, work)
    except SetupError as error:
        print(f"cannot measure: {error}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)


class SetupError(Exception):
    pass


def base_python():
    """The interpreter this runs on, outside any virtualenv."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def measure(args, work):
    zipapp = find_zipapp(args.archive, work)
    home = os.path.join(work, "home")
    os.mkdir(home)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "XDG_", "VIRTUAL_ENV", "KUBECONFIG", "USERCERT_"))
    }
    env.update(HOME=home, NO_COLOR="1")
    venv = install_venv(args.python, work, env)
    bare = os.path.join(work, "bare")  # the same site-packages start-up cost, without the package
    step(
        f"a virtualenv with nothing installed, for the zipapp ({bare})",
        [args.python, "-m", "venv", bare],
        env,
    )
    python = os.path.join(bare, "bin", "python3")
    cache = os.path.join(work, "cache")
    variants = {
        "venv install": ([os.path.join(venv, "bin", "kubectl-usercert")], env),
        "zipapp, warm cache": ([python, zipapp], dict(env, XDG_CACHE_HOME=cache)),
        "zipapp, warm cache, no bytecode": (
            [python, zipapp],
            dict(env, XDG_CACHE_HOME=cache, PYTHONDONTWRITEBYTECODE="1"),
        ),
        "zipapp, no usable cache": ([python, zipapp], dict(env, XDG_CACHE_HOME="/dev/null/cache")),
    }
    for name, (command, variant_env) in variants.items():  # also unpacks the cache
        for arguments in COMMANDS:
            result = subprocess.run(
                command + arguments,
                env=variant_env,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            if result.returncode != 0:
                raise SetupError(
                    f"{name}: {' '.join(arguments)} exited {result.returncode}: {result.stderr[-2000:]}"
                )

    version = subprocess.run(
        [args.python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    sys.stdout.reconfigure(line_buffering=True)
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {version}, {args.runs} runs each, alternating; medians of a whole process"
    )
    times = {(name, tuple(arguments)): [] for name in variants for arguments in COMMANDS}
    for round_number in range(args.runs):
        for arguments in COMMANDS:
            order = list(variants)
            order = order[round_number % len(order) :] + order[: round_number % len(order)]
            for name in order:
                command, variant_env = variants[name]
                times[name, tuple(arguments)].append(timed(command + arguments, variant_env))
    width = max(map(len, variants))
    for arguments in COMMANDS:
        label = "kubectl-usercert " + " ".join(arguments)
        wall, cpu = (
            {
                name: statistics.median(t[index] for t in times[name, tuple(arguments)])
                for name in variants
            }
            for index in (0, 1)
        )
        print(f"\n{label:<{width}}     wall  ratio      CPU  ratio (to the venv install)")
        for name in variants:
            print(
                f"{name:<{width}}  {wall[name] * 1000:4.0f} ms  {wall[name] / wall['venv install']:5.2f}"
                f"  {cpu[name] * 1000:4.0f} ms  {cpu[name] / cpu['venv install']:5.2f}"
            )

    firsts = []
    for number in range(args.first_runs):
        empty = os.path.join(work, f"empty-cache-{number}")
        firsts.append(timed([python, zipapp, "--version"], dict(env, XDG_CACHE_HOME=empty))[0])
    if firsts:
        print(
            f"\nzipapp, first run of a build (unpacks and compiles into an empty cache): "
            f"median {statistics.median(firsts) * 1000:.0f} ms wall of {len(firsts)}"
        )
    return 0


def timed(command, env):
    """(wall seconds, CPU seconds) of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def step(what, command, env, cwd=None):
    print(f"... {what}", file=sys.stderr, flush=True)
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise SetupError(f"{' '.join(command)}: {(result.stdout + result.stderr)[-3000:]}")
    return result


def find_zipapp(archive, work):
    """The kubectl-usercert zipapp: built now, taken from a release .tar.gz, or given."""
    if archive is None:
        dist = os.path.join(work, "dist")
        step(
            "building the release",
            [
                sys.executable,
                os.path.join(ROOT, "release", "build.py"),
                "--dist",
                dist,
                "--manifest",
                os.path.join(work, "usercert.yaml"),
            ],
            os.environ,
        )
        archive = next(
            os.path.join(dist, name) for name in os.listdir(dist) if name.endswith(".tar.gz")
        )
    if not archive.endswith((".tar.gz", ".tgz")):
        return os.path.abspath(archive)
    with tarfile.open(archive) as tar:
        data = tar.extractfile("kubectl-usercert").read()
    zipapp = os.path.join(work, "kubectl-usercert")
    with open(zipapp, "wb") as handle:
        handle.write(data)
    os.chmod(zipapp, 0o755)
    return zipapp


def install_venv(python, work, env):
    """This checkout pip-installed into a new virtualenv, as install.sh does."""
    venv = os.path.join(work, "venv")
    step(f"a virtualenv with this checkout installed ({venv})", [python, "-m", "venv", venv], env)
    source = os.path.join(work, "src")
    os.mkdir(source)
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        if os.path.exists(os.path.join(ROOT, name)):
            shutil.copy(os.path.join(ROOT, name), source)
    shutil.copytree(
        os.path.join(ROOT, "lib"),
        os.path.join(source, "lib"),
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    step(
        "pip install",
        [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--no-cache-dir", source],
        dict(env, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_ROOT_USER_ACTION="ignore"),
    )
    return venv


if __name__ == "__main__":
    sys.exit(main())
