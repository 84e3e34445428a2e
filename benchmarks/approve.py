#!/usr/bin/env python3
"""`approve` over many pending self-renewals against one `kubectl certificate approve` per request,
side by side in one run (issue 21).

    python3 benchmarks/approve.py [--rounds N] [--requests N[,N...]] [--python PY]

For each count (default 10 and 100): that many users in a ledger with the right to self-renew and
as many pending self-renewal requests, seeded into the test API server (tests/apiserver/, TLS,
real kubectl, its signer issuing on approval) as kube-apiserver stores a request its user filed.
Then, alternately (the order swapped every round; medians):
  approve       `kubectl usercert approve`: every check, the decisions, the ledger records
  one-by-one    a shell loop of `kubectl certificate approve NAME`, one process per request (no
                checks, nothing recorded): what approving by hand or by a naive script costs
and the kubectl processes each starts (counted by a kubectl that logs its runs). Needs the test
dependencies (cryptography) in the Python that runs this. A measurement, not a test: it prints what
it finds and exits 0.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "lib")]

from helpers import LAUNCHER, running_test_cluster  # noqa: E402
from kubectl_usercert.pki.signers.cluster_csr import self_renewal_name  # noqa: E402
from pending_renewals import counting_kubectl, seed_renewals  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per pair (default 3)")
    parser.add_argument("--requests", default="10,100", help="request counts (default 10,100)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs the tool")
    args = parser.parse_args(argv)
    real = shutil.which("kubectl", path="/usr/bin") or shutil.which("kubectl")
    print(f"python {args.python}; kubectl {real}; {os.cpu_count()} cores")
    for count in map(int, args.requests.split(",")):
        ours, theirs, runs = [], [], {}
        for round_number in range(args.rounds):
            order = (("approve", ours), ("one-by-one", theirs))
            for name, times in order if round_number % 2 == 0 else reversed(order):
                seconds, processes = one_run(name, count, args.python, real)
                times.append(seconds)
                runs[name] = processes
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        print(
            f"{count} requests: approve {ours_s:.2f} s, {runs['approve']} kubectl | one by one "
            f"{theirs_s:.2f} s, {runs['one-by-one']} kubectl | ratio {ours_s / theirs_s:.2f}"
        )
    return 0


def one_run(name, count, python, real):
    """(seconds, kubectl processes) of one approval of `count` fresh requests, on a fresh server."""
    with tempfile.TemporaryDirectory(prefix="usercert-bench.") as work:
        home = Path(work) / "home"
        kubeconfig = home / ".kube" / "config"
        env = dict(os.environ, HOME=str(home), KUBECONFIG=str(kubeconfig), NO_COLOR="1")
        with running_test_cluster(Path(work) / "pki", kubeconfig) as (server, _, client_ca):
            server.sign_csrs_with(client_ca.cert, client_ca.key)
            out_dir = str(Path(work) / "clients")
            seed_renewals(server, out_dir, count)
            wrapper, log = counting_kubectl(work, real)
            env["USERCERT_KUBECTL"] = wrapper
            if name == "approve":
                argv = [python, str(LAUNCHER), "approve", "--out-dir", out_dir, "-q"]
            else:
                names = " ".join(self_renewal_name(f"user{n}") for n in range(count))
                argv = [
                    "sh",
                    "-c",
                    f'for n in {names}; do "{wrapper}" certificate approve $n; done',
                ]
            start = time.perf_counter()
            subprocess.run(argv, env=env, cwd=work, check=True, capture_output=True)
            seconds = time.perf_counter() - start
            issued = sum(
                1
                for csr in server.list("certificates.k8s.io/v1", "CertificateSigningRequest")
                if csr["status"].get("certificate")
            )
            assert issued == count, f"{name}: {issued} of {count} issued"
            return seconds, len(Path(log).read_text().splitlines())


if __name__ == "__main__":
    sys.exit(main())
