#!/usr/bin/env python3
"""`apply -f` against the original script run once per user, side by side in one run (issue 14).

    python3 benchmarks/roster.py [--rounds N] [--only ROW[,ROW...]] [--python PY]

Rows:
  apply-rsa4096   a roster of 32 users, RSA-4096 keys (the default)  vs the original script run 32 times
  apply-ecdsa     a roster of 32 users, keyType: ecdsa               vs the original script run 32 times
  reapply         re-applying an unchanged roster of 200 users: its time, and the openssl processes it starts
  memory          peak memory of apply issuing 10, 100 and 1,000 users (ecdsa), and of re-applying them
Pairs alternate (the order swapped every round) and report medians. Throwaway CAs, no cluster (RBAC
off). This is a measurement, not a test: it prints what it finds and exits 0.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from performance import ORIGINAL, Bench, measure, median  # noqa: E402

ROWS = ("apply-rsa4096", "apply-ecdsa", "reapply", "memory")
SERVER = "https://127.0.0.1:6443"


def main(argv=None):
    return measure(__doc__, ROWS, RosterBench, argv, rounds=(3, "rounds per pair"))


def roster(count, key="{keyType: rsa}"):
    users = "".join(f"  - {{name: user{n}, groups: [dev]}}\n" for n in range(count))
    return (
        "apiVersion: usercert.kubectl.io/v1alpha1\nkind: UserRoster\nmetadata: {name: bench}\n"
        f"spec:\n  defaults: {key}\n  users:\n{users}"
    )


class RosterBench(Bench):
    def write_roster(self, count, key):
        path = os.path.join(self.work, f"roster-{count}-{self.counter}.yaml")
        with open(path, "w") as handle:
            handle.write(roster(count, key))
        return path

    def apply_argv(self, path, out):
        return self.tool + [
            "apply",
            "-f",
            path,
            "--ca-cert",
            self.ca_cert,
            "--ca-key",
            self.ca_key,
            "--server",
            SERVER,
            "--out-dir",
            out,
        ]

    def apply_fresh(self, path):
        folder = self.fresh()
        return self.timed(self.apply_argv(path, os.path.join(folder, "clients")), cwd=folder)

    def original_times(self, count, bits=4096):
        env = dict(
            self.env,
            CACERT=self.ca_cert,
            CAKEY=self.ca_key,
            CLUSTERNAME="kubernetes",
            CLUSTERENDPOINT=SERVER,
            KEYBITS=str(bits),
        )
        folder = self.fresh()
        script = os.path.join(folder, "loop.sh")
        with open(script, "w") as handle:
            handle.write(
                f'for n in $(seq 0 {count - 1}); do bash "{ORIGINAL}" "user$n" dev || exit 1; done\n'
            )
        return self.timed(["bash", script], cwd=folder, env=env)

    def apply_rsa4096(self, args):
        path = self.write_roster(32, "{keyType: rsa}")
        self.pair(
            "apply, 32 users (RSA-4096)",
            lambda: self.apply_fresh(path),
            lambda: self.original_times(32),
            args.rounds,
            "original script x 32 (RSA-4096)",
        )

    def apply_ecdsa(self, args):
        path = self.write_roster(32, "{keyType: ecdsa}")
        self.pair(
            "apply, 32 users (ecdsa)",
            lambda: self.apply_fresh(path),
            lambda: self.original_times(32),
            args.rounds,
            "original script x 32 (RSA-4096)",
        )

    def reapply(self, args):
        path = self.write_roster(200, "{keyType: ecdsa}")
        out = os.path.join(self.fresh(), "clients")
        self.run(self.apply_argv(path, out))
        shim, log = self.openssl_shim()
        env = dict(self.env, PATH=f"{shim}{os.pathsep}{self.env['PATH']}")
        times = [
            self.timed(self.apply_argv(path, out), env=env) for _ in range(max(5, args.rounds * 3))
        ]
        with open(log) as handle:
            started = len(handle.read().split())
        print(
            f"{'re-apply, 200 users unchanged':<34} {median(times):7.3f} s   openssl processes started: {started}"
        )

    def openssl_shim(self):
        shim = os.path.join(self.work, "shim")
        log = os.path.join(self.work, "openssl.log")
        os.makedirs(shim, exist_ok=True)
        with open(os.path.join(shim, "openssl"), "w") as handle:
            handle.write(f'#!/bin/sh\necho "$1" >> {log}\nexec {shutil.which("openssl")} "$@"\n')
        os.chmod(os.path.join(shim, "openssl"), 0o755)
        open(log, "w").close()
        return shim, log

    def memory(self, _args):
        for count in (10, 100, 1000):
            path = self.write_roster(count, "{keyType: ecdsa}")
            out = os.path.join(self.fresh(), "clients")
            issuing = self.peak_kib(self.apply_argv(path, out))
            reapplying = self.peak_kib(self.apply_argv(path, out))
            users = len([name for name in os.listdir(out) if not name.startswith(".")])
            print(
                f"{f'apply, {count} users (ecdsa)':<34} peak {issuing // 1024} MiB issuing {users}, "
                f"{reapplying // 1024} MiB re-applying"
            )


if __name__ == "__main__":
    sys.exit(main())
