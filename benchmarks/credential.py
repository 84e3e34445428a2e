#!/usr/bin/env python3
"""The credential plugin kubectl runs on every call, against a bare Python, side by side in one run
(issue 21: at most 0.05 s with nothing to renew).

    python3 benchmarks/credential.py [--runs N] [--only ROW[,ROW...]] [--python PY]

Rows:
  credential   `kubectl-usercert credential --credential bob@kubernetes` through the launcher, as
               kubectl runs it (a credential imported with --exec, nothing due)  vs `python -c pass`
  renewing     the same call when the renewal is due (it starts the renewal in the background and
               answers; the renewal fails at once here: no cluster)             vs `python -c pass`
The credential is made for real (request, sign with a throwaway CA, import --exec) in a temporary
HOME; no cluster is involved. This is a measurement, not a test: it prints what it finds and exits 0.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from performance import Bench, measure  # noqa: E402

ROWS = ("credential", "renewing")
SERVER = "https://127.0.0.1:6443"
NAME = "bob@kubernetes"


def main(argv=None):
    return measure(__doc__, ROWS, CredentialBench, argv, runs=(41, "rounds per pair"))


class CredentialBench(Bench):
    def __init__(self, python, work):
        super().__init__(python, work)
        self.env.update(XDG_DATA_HOME=os.path.join(work, "data"))
        self.env["KUBECONFIG"] = os.path.join(self.env["HOME"], ".kube", "config")
        admin = dict(self.env, KUBECONFIG=os.devnull + "-none")
        self.run(self.tool + ["request", "bob", "dev", "--key-type", "ecdsa"])
        self.run(
            self.tool
            + ["sign", "--csr", "bob.csr", "--user", "bob", "-g", "dev", "--server", SERVER]
            + ["--ca-cert", self.ca_cert, "--ca-key", self.ca_key, "--out-dir", "admin"],
            env=admin,
        )
        self.run(self.tool + ["import", "admin/bob/kubeconfig", "--exec"])
        self.folder = os.path.join(work, "data", "kubectl-usercert", "credentials", NAME)
        self.plugin = self.tool + ["credential", "--credential", NAME]
        self.run(self.plugin)  # bytecode written once, before anything is timed

    def credential(self, args):
        self.pair(
            "credential (nothing to renew)",
            lambda: self.timed(self.plugin),
            lambda: self.timed([self.python, "-c", "pass"]),
            args.runs,
            "python -c pass",
        )

    def renewing(self, args):
        path = os.path.join(self.folder, "state.json")
        with open(path) as handle:
            state = json.load(handle)
        with open(path, "w") as handle:
            json.dump(dict(state, renewBefore="3d"), handle)  # due now

        def due():
            record = os.path.join(self.folder, "renewal.json")
            if os.path.exists(record):
                os.unlink(record)  # (the renewal fails here: let the next call start one again)
            return self.timed(self.plugin)

        self.pair(
            "credential (renewal due)",
            due,
            lambda: self.timed([self.python, "-c", "pass"]),
            args.runs,
            "python -c pass",
        )


if __name__ == "__main__":
    sys.exit(main())
