#!/usr/bin/env python3
"""kubectl-usercert against its baselines, side by side in one run (issue "Fast").

    python3 benchmarks/performance.py [--runs N] [--rsa-runs N] [--only ROW[,ROW...]] [--python PY]

Rows (each a pair measured alternately, the order swapped every round; medians):
  create-rsa4096   `create` (RSA-4096, the default)     vs the original script (RSA-4096)
  create-rsa2048   `create --key-size 2048`              vs the original script (KEYBITS=2048)
  create-ecdsa     `create --key-type ecdsa`             vs the same three openssl steps in a shell script
  processes        processes one `create --key-type ecdsa` starts (openssl ones, and all)
  help, version    `--help`, `--version`                 vs `python -c 'import plumbum.cli'`
  completion       `kubectl_complete-usercert create --key-t` vs `python -c pass` (and its own time)
  list             `list` over 10, 100, 200 and 1,000 users vs `list` over 1 user; whois and inspect
                   alongside; peak memory of each
Everything runs in a temporary folder with its own HOME, with throwaway CAs and no cluster. The
zipapp's start-up has a script of its own, benchmarks/zipapp_startup.py. This is a measurement,
not a test: it prints what it finds and exits 0.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGINAL = os.path.join(os.path.dirname(ROOT), "shared", "seed", "original-script.sh")
FLOOR = """\
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out u.key 2>/dev/null
openssl req -new -key u.key -out u.csr -subj "/O=dev/CN=alice"
openssl x509 -req -days 365 -sha256 -in u.csr -CA "$CACERT" -CAkey "$CAKEY" -set_serial 2 -out u.crt 2>/dev/null
"""
ROWS = (
    "create-rsa4096",
    "create-rsa2048",
    "create-ecdsa",
    "processes",
    "help",
    "version",
    "completion",
    "list",
)


def main(argv=None):
    return measure(
        __doc__,
        ROWS,
        Bench,
        argv,
        runs=(21, "rounds per pair"),
        rsa_runs=(15, "rounds for the RSA pairs"),
    )


def measure(doc, rows, bench_class, argv, **counts):
    """Parse the common flags (--only, --python, and a --NAME N per count), then measure each row."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    for name, (default, meaning) in counts.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=default,
            help=f"{meaning} (default {default})",
        )
    parser.add_argument(
        "--only", default=",".join(rows), help="rows to measure: " + ", ".join(rows)
    )
    parser.add_argument(
        "--python", default=default_python(), help="the Python that runs kubectl-usercert"
    )
    args = parser.parse_args(argv)
    bench = bench_class(args.python, tempfile.mkdtemp(prefix="usercert-bench."))
    try:
        print(f"python {args.python}; openssl {shutil.which('openssl')}; {os.cpu_count()} cores")
        for row in args.only.split(","):
            getattr(bench, row.replace("-", "_"))(args)
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
    return 0


def default_python():
    installed = os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"),
        "kubectl-usercert",
        "venv",
        "bin",
        "python",
    )
    return installed if os.path.exists(installed) else sys.executable


def median(values):
    return statistics.median(values)


class Bench:
    def __init__(self, python, work):
        self.python, self.work = python, work
        self.env = dict(os.environ, HOME=os.path.join(work, "home"), NO_COLOR="1")
        # PYTHONDONTWRITEBYTECODE off: the checkout runs from bytecode, as an install (pip compiles) does.
        for name in (
            "KUBECONFIG",
            "XDG_CACHE_HOME",
            "USERCERT_CA_CERT",
            "USERCERT_CA_KEY",
            "PYTHONDONTWRITEBYTECODE",
        ):
            self.env.pop(name, None)
        os.makedirs(self.env["HOME"])
        self.ca_cert, self.ca_key = os.path.join(work, "ca.crt"), os.path.join(work, "ca.key")
        # A CA like kubeadm's: RSA 2048.
        self.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                self.ca_key,
                "-out",
                self.ca_cert,
                "-subj",
                "/CN=kubernetes",
                "-days",
                "3650",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "subjectKeyIdentifier=hash",
            ]
        )
        self.tool = [python, os.path.join(ROOT, "kubectl-usercert")]
        self.run(self.tool + ["--version"])  # bytecode written once, before anything is timed
        self.counter = 0

    def run(self, argv, cwd=None, env=None):
        return subprocess.run(
            argv,
            cwd=cwd or self.work,
            env=env or self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            check=True,
        )

    def timed(self, argv, cwd=None, env=None):
        start = time.perf_counter()
        self.run(argv, cwd, env)
        return time.perf_counter() - start

    def fresh(self):
        self.counter += 1
        folder = os.path.join(self.work, f"run{self.counter}")
        os.makedirs(folder)
        return folder

    def pair(self, label, ours, theirs, runs, theirs_label):
        """Alternate the two (each a callable returning seconds); print medians and their ratio."""
        mine, base = [], []
        for round_ in range(runs):
            order = (
                ((ours, mine), (theirs, base))
                if round_ % 2 == 0
                else ((theirs, base), (ours, mine))
            )
            for measure, into in order:
                into.append(measure())
        ratio = median(mine) / median(base)
        print(
            f"{label:<34} {median(mine):7.3f} s   vs {theirs_label:<34} {median(base):7.3f} s   ratio {ratio:5.2f}"
        )
        return ratio

    def create(self, *key_args):
        folder = self.fresh()
        return self.timed(
            self.tool
            + [
                "create",
                "alice",
                "dev",
                *key_args,
                "--ca-cert",
                self.ca_cert,
                "--ca-key",
                self.ca_key,
                "--server",
                "https://127.0.0.1:6443",
            ],
            cwd=folder,
        )

    def original(self, bits):
        env = dict(
            self.env,
            CACERT=self.ca_cert,
            CAKEY=self.ca_key,
            CLUSTERNAME="kubernetes",
            CLUSTERENDPOINT="https://127.0.0.1:6443",
            KEYBITS=str(bits),
        )
        return self.timed(["bash", ORIGINAL, "alice", "dev"], cwd=self.fresh(), env=env)

    def create_rsa4096(self, args):
        self.pair(
            "create (RSA-4096)",
            lambda: self.create(),
            lambda: self.original(4096),
            args.rsa_runs,
            "original script (RSA-4096)",
        )

    def create_rsa2048(self, args):
        self.pair(
            "create --key-size 2048",
            lambda: self.create("--key-size", "2048"),
            lambda: self.original(2048),
            max(args.rsa_runs, args.runs),
            "original script (2048)",
        )

    def create_ecdsa(self, args):
        floor = os.path.join(self.work, "floor.sh")
        with open(floor, "w") as handle:
            handle.write(FLOOR)
        env = dict(self.env, CACERT=self.ca_cert, CAKEY=self.ca_key)
        self.pair(
            "create --key-type ecdsa",
            lambda: self.create("--key-type", "ecdsa"),
            lambda: self.timed(["bash", floor], cwd=self.fresh(), env=env),
            args.runs,
            "three openssl steps",
        )

    def processes(self, _args):
        shim = os.path.join(self.work, "shim")
        os.makedirs(shim, exist_ok=True)
        log = os.path.join(self.work, "openssl.log")
        with open(os.path.join(shim, "openssl"), "w") as handle:
            handle.write(f'#!/bin/sh\necho "$1" >> {log}\nexec {shutil.which("openssl")} "$@"\n')
        os.chmod(os.path.join(shim, "openssl"), 0o755)
        env = dict(self.env, PATH=f"{shim}{os.pathsep}{self.env['PATH']}")
        self.run(
            self.tool
            + [
                "create",
                "warmup",
                "--key-type",
                "ecdsa",
                "--ca-cert",
                self.ca_cert,
                "--ca-key",
                self.ca_key,
                "--server",
                "https://x:6443",
            ],
            cwd=self.fresh(),
            env=env,
        )
        open(log, "w").close()
        argv = self.tool + [
            "create",
            "alice",
            "--key-type",
            "ecdsa",
            "--ca-cert",
            self.ca_cert,
            "--ca-key",
            self.ca_key,
            "--server",
            "https://x:6443",
        ]
        folder = self.fresh()
        traced = os.path.join(self.work, "strace.log")
        if shutil.which("strace"):
            self.run(
                ["strace", "-f", "-qq", "-e", "trace=execve", "-o", traced, *argv],
                cwd=folder,
                env=env,
            )
            with open(traced) as handle:
                started = [
                    line
                    for line in handle
                    if "execve(" in line and "ENOENT" not in line and "/shim/openssl" not in line
                ]  # the shim's exec of openssl counts once
            everything = f"{len(started) - 1} processes in all (strace)"
        else:
            self.run(argv, cwd=folder, env=env)
            everything = "strace not found"
        with open(log) as handle:
            subcommands = handle.read().split()
        print(
            f"{'processes per create (ecdsa)':<34} {len(subcommands)} openssl ({', '.join(subcommands)}); "
            f"{everything}; the original script: 3 openssl"
        )

    def help(self, args):
        self.pair(
            "--help",
            lambda: self.timed(self.tool + ["--help"]),
            lambda: self.timed([self.python, "-c", "import plumbum.cli"]),
            args.runs,
            "python -c 'import plumbum.cli'",
        )

    def version(self, args):
        self.pair(
            "--version",
            lambda: self.timed(self.tool + ["--version"]),
            lambda: self.timed([self.python, "-c", "import plumbum.cli"]),
            args.runs,
            "python -c 'import plumbum.cli'",
        )

    def completion(self, args):
        helper = [self.python, os.path.join(ROOT, "kubectl_complete-usercert"), "create", "--key-t"]
        self.pair(
            "completion (create --key-t)",
            lambda: self.timed(helper),
            lambda: self.timed([self.python, "-c", "pass"]),
            args.runs,
            "python -c pass",
        )

    def list(self, args):
        out = os.path.join(self.work, "many")
        self.run(
            self.tool
            + [
                "create",
                "user0",
                "dev",
                "--key-type",
                "ecdsa",
                "--ca-cert",
                self.ca_cert,
                "--ca-key",
                self.ca_key,
                "--server",
                "https://x:6443",
                "--out-dir",
                out,
            ]
        )
        ledger = os.path.join(out, ".usercert", "ledger.jsonl")
        with open(ledger) as handle:
            template = handle.read().strip()
        import json

        one = json.loads(template)
        base = self.list_times(out, args.runs, one)
        print(
            f"{'list over 1 user':<34} {base[0]:7.3f} s   whois {base[1]:.3f} s   inspect {base[2]:.3f} s   "
            f"peak {base[3] // 1024} MiB"
        )
        users = 1
        for target in (10, 100, 200, 1000):
            users = self.grow(out, ledger, one, users, target)
            figures = self.list_times(out, args.runs, one)
            print(
                f"{f'list over {target} users':<34} {figures[0]:7.3f} s   whois {figures[1]:.3f} s   "
                f"inspect {figures[2]:.3f} s   peak {figures[3] // 1024} MiB   ratio to 1 user "
                f"{figures[0] / base[0]:5.2f}"
            )

    def grow(self, out, ledger, one, users, target):
        import json
        import random

        source = os.path.join(out, "user0")
        with open(ledger, "a") as handle:
            for number in range(users, target):
                name = f"user{number}"
                folder = os.path.join(out, name)
                shutil.copytree(source, folder)
                for suffix in (".crt", ".key"):
                    os.rename(
                        os.path.join(folder, "user0" + suffix), os.path.join(folder, name + suffix)
                    )
                fingerprint = ":".join(f"{random.randrange(256):02X}" for _ in range(32))
                entry = dict(
                    one,
                    user=name,
                    path=folder,
                    fingerprintSHA256=fingerprint,
                    serial=f"{random.getrandbits(120):X}",
                )
                handle.write(json.dumps(entry) + "\n")
        later = (
            time.time() + 5
        )  # the ledger lines were written after the files, as a run writes them
        os.utime(ledger, (later, later))
        return target

    def list_times(self, out, runs, one):
        commands = (
            ["list", "--out-dir", out],
            ["whois", one["fingerprintSHA256"], "--out-dir", out],
            ["inspect", "user0", "--out-dir", out],
        )
        times = [
            median([self.timed(self.tool + command) for _ in range(max(5, runs // 3))])
            for command in commands
        ]
        return times + [self.peak_kib(self.tool + ["list", "--out-dir", out])]

    def peak_kib(self, argv):
        code = (
            "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        answer = subprocess.run(
            [sys.executable, "-c", code, *argv],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.work,
        )
        return int(answer.stdout.strip() or 0)


if __name__ == "__main__":
    sys.exit(main())
