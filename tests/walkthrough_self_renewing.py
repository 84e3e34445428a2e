#!/usr/bin/env python3
"""The README's walkthrough of one-hour certificates that renew themselves ("Certificates that renew
themselves"), run for real: the test API server (split CAs, RBAC, its CSR signer on the client CA,
real TLS), the admin's machine and bob's (as tests/walkthrough_person.py sets them up), bob's
kubeconfig user the credential plugin, and the admin's `approve --watch` running meanwhile. Prints
the transcript; `steps()` gives the same steps to tests/test_self_renewing_walkthrough.py.

    python tests/walkthrough_self_renewing.py     (with the dev venv's python: it needs cryptography)
"""

import json
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "lib"))

from helpers import running_test_cluster  # noqa: E402
from walkthrough_person import _machines, show  # noqa: E402

RENEWAL_SECONDS = 180  # how long the walkthrough waits for the renewal in the background


def main():
    show(steps())


def steps(root=None):
    """(prompt, command, CompletedProcess) for each step, as they run, in `root` (default: a new
    temporary folder)."""
    root = Path(root or tempfile.mkdtemp(prefix="usercert-walkthrough-renewing."))
    with running_test_cluster(root / "pki", root / "admin" / ".kube" / "config") as (
        server,
        _server_ca,
        client_ca,
    ):
        server.sign_csrs_with(client_ca.cert, client_ca.key)
        admin, bob = _machines(root, client_ca)
        yield bob.run("kubectl usercert request bob developers --key-type ecdsa")
        bob.send("bob.csr", admin)
        yield admin.run(
            "kubectl usercert sign --csr bob.csr --user bob -g developers --clusterrole view "
            "--self-renew --expiration 1h"
        )
        admin.send("clients/bob/kubeconfig", bob)
        yield bob.run("kubectl usercert import kubeconfig --exec --set-current --renew-before 64m")
        yield bob.run("kubectl config view --minify -o jsonpath={.users[0].user.exec}")
        watching = admin.start("kubectl usercert approve --watch")
        try:
            yield bob.run("kubectl auth whoami")
            yield bob.run("kubectl get pods -n default")
            _renewed(root / "bob" / ".local" / "share" / "kubectl-usercert", watching)
            renewed = bob.run("kubectl auth whoami")
            yield renewed
        finally:
            watching.send_signal(signal.SIGTERM)
        yield _stopped(admin, watching)
        yield admin.run("kubectl usercert list")
        credential_id = renewed[2].stdout.split("[")[-1].split("]")[0]
        yield admin.run(f"kubectl usercert whois {credential_id}")


def _renewed(store, watching, name="bob@test-cluster"):
    """Wait (not shown) until the renewal the plugin started in the background has ended."""
    record = store / "credentials" / name / "renewal.json"
    deadline = time.monotonic() + RENEWAL_SECONDS
    while time.monotonic() < deadline and watching.poll() is None:
        if record.exists() and json.loads(record.read_text()).get("outcome") in (
            "renewed",
            "failed",
        ):
            return
        time.sleep(0.5)


def _stopped(admin, watching):
    prompt, command, done = admin.finish("kubectl usercert approve --watch", watching)
    return prompt, command + "   # running since bob's import, stopped now (SIGTERM)", done


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"# {time.monotonic() - started:.0f}s", file=sys.stderr)
