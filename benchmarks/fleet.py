#!/usr/bin/env python3
"""One person on three clusters (issue 22): `create --context A --context B --context C` against three
separate `create`s, side by side in one run.

    python3 benchmarks/fleet.py [--runs N] [--only ROW[,ROW...]] [--python PY]

Rows (each a pair measured alternately, the order swapped every round; medians):
  fleet-rsa4096   one RSA-4096 person on three clusters with local CAs (one key, a certificate from
                  each CA, one kubeconfig)  vs  three separate `create`s of that person (a key each)
  fleet-ecdsa     the same with --key-type ecdsa (what is left besides key generation)
Three throwaway CAs (RSA-2048, as kubeadm's), an admin kubeconfig with a context for each (servers
nobody needs to reach: no bindings, no --verify), no cluster. This is a measurement, not a test: it
prints what it finds and exits 0.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from performance import Bench, measure  # noqa: E402

ROWS = ("fleet-rsa4096", "fleet-ecdsa")
CONTEXTS = ("prod", "staging", "lab")


def main(argv=None):
    return measure(__doc__, ROWS, FleetBench, argv, runs=(11, "rounds per pair"))


class FleetBench(Bench):
    def __init__(self, python, work):
        super().__init__(python, work)
        self.cas = {}
        for index, context in enumerate(CONTEXTS):
            cert, key = (os.path.join(work, f"{context}-ca.{ext}") for ext in ("crt", "key"))
            self.run(
                [
                    "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-subj", f"/CN={context}-client-ca", "-days", "3650",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "subjectKeyIdentifier=hash",
                ]
            )  # fmt: skip
            self.cas[context] = (cert, key, f"https://127.0.0.1:{6443 + index}")
        self.kubeconfig = os.path.join(work, "admin.kubeconfig")
        with open(self.kubeconfig, "w") as handle:
            json.dump(self.admin_kubeconfig(), handle)

    def admin_kubeconfig(self):
        """A context per cluster; each cluster trusts its CA (as kubeadm's: one CA for both)."""
        import base64

        clusters, contexts = [], []
        for context, (cert, _key, server) in self.cas.items():
            with open(cert, "rb") as handle:
                data = base64.b64encode(handle.read()).decode()
            clusters.append(
                {"name": context, "cluster": {"server": server, "certificate-authority-data": data}}
            )
            contexts.append({"name": context, "context": {"cluster": context, "user": "admin"}})
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": clusters,
            "users": [{"name": "admin", "user": {"token": "not-used"}}],
            "contexts": contexts,
            "current-context": CONTEXTS[0],
        }

    def ca_flags(self, context, per_context):
        cert, key, _server = self.cas[context]
        prefix = f"{context}=" if per_context else ""
        return ["--ca-cert", prefix + cert, "--ca-key", prefix + key]

    def fleet(self, *key_args):
        flags = [flag for context in CONTEXTS for flag in ("--context", context)]
        flags += [flag for context in CONTEXTS for flag in self.ca_flags(context, True)]
        return self.timed(
            self.tool
            + ["create", "alice", "dev", *key_args, "--kubeconfig", self.kubeconfig, *flags],
            cwd=self.fresh(),
        )

    def separately(self, *key_args):
        folder, total = self.fresh(), 0.0
        for context in CONTEXTS:
            total += self.timed(
                self.tool
                + ["create", "alice", "dev", *key_args, "--kubeconfig", self.kubeconfig]
                + ["--context", context, *self.ca_flags(context, False)]
                + ["--out-dir", os.path.join(folder, context)],
                cwd=folder,
            )
        return total

    def fleet_rsa4096(self, args):
        self.pair(
            "one person, 3 clusters (RSA-4096)",
            lambda: self.fleet(),
            lambda: self.separately(),
            args.runs,
            "3 separate creates (RSA-4096)",
        )

    def fleet_ecdsa(self, args):
        self.pair(
            "one person, 3 clusters (ecdsa)",
            lambda: self.fleet("--key-type", "ecdsa"),
            lambda: self.separately("--key-type", "ecdsa"),
            args.runs,
            "3 separate creates (ecdsa)",
        )


if __name__ == "__main__":
    sys.exit(main())
