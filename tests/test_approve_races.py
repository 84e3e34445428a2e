"""`approve` against a person who races it, end to end (test API server, real kubectl): what a
hostile person with the right to self-renew can do between approve's steps."""

import base64
import json
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import test_self_renewal_policy as policy_case
from conftest import default_kubectl
from helpers import cli_json, ledger_lines
from kubectl_usercert.cluster.kubectl import KubectlResult
from kubectl_usercert.operations.approve_watch import watch_approvals
from kubectl_usercert.operations.self_renewal_policy import CREDENTIAL_ID
from kubectl_usercert.pki.signers.cluster_csr import self_renewal_name
from kubectl_usercert.store import ledger
from kubectl_usercert.store.ledger_entry import LedgerEntry
from test_approve import file_as, issue, manifest, request_pem, signing  # noqa: F401


def test_a_renewal_taken_and_withdrawn_before_approve_watches_is_still_recorded(
    signing,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    """bob takes his new certificate and deletes the request the moment it is issued, before
    approve's watch for issued certificates starts: unrecorded, his old certificate would stay the
    newest the ledger knows (free to renew again) and whois would not know the new one."""
    cluster = signing
    bob = issue(cluster, "bob", "dev")
    name = self_renewal_name("bob")
    file_as(cluster, bob, manifest(name, request_pem("bob", ["dev"])))
    real = default_kubectl()
    wrapper = tmp_path / "kubectl"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" replace "*)\n'
        f'  "{real}" "$@"; code=$?\n'
        "  for _ in $(seq 100); do\n"
        f'    "{real}" --kubeconfig "{bob}" get csr {name} -o jsonpath=\'{{.status.certificate}}\''
        " </dev/null | grep -q . && break\n"
        "    sleep 0.05\n"
        "  done\n"
        f'  "{real}" --kubeconfig "{bob}" delete csr {name} </dev/null >/dev/null\n'
        "  exit $code ;;\n"
        "esac\n"
        f'exec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("USERCERT_KUBECTL", str(wrapper))
    answer = cli_json("approve")
    assert [r["action"] for r in answer["status"]["requests"]] == ["approve"]
    [recorded] = answer["status"]["recorded"]
    assert recorded["user"] == "bob" and not answer["status"]["warnings"]
    assert [e["event"] for e in ledger_lines() if e["user"] == "bob"] == ["issued", "renewed"]


def _certificate(ca_key, cn, groups, hours=2):
    now = datetime.now(timezone.utc)
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(names + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=hours))
        .sign(ca_key, hashes.SHA256())
    )
    return cert


class _OneWatch:
    """A kubectl whose watch shows `events` then stops; every decision sent is taken."""

    def __init__(self, events):
        self.events, self.sent = events, []

    @contextmanager
    def watch(self, args):
        yield _Events(self.events)

    def run(self, args, text=None):
        items = json.loads(text)["items"]
        self.sent += items
        names = "".join(f"certificatesigningrequest/{i['metadata']['name']}\n" for i in items)
        return KubectlResult(0, names, "")


class _Events(list):
    result = None


def test_a_stolen_certificate_cannot_renew_in_the_same_batch_as_the_owner(tmp_path):
    """--watch: bob's renewal is issued (C2) and, within the same batch, a thief holding bob's
    previous certificate (C1) deletes the request and files another. The issued one must be
    recorded before the new one is judged: else C1 is still the newest the ledger knows, the
    thief's renewal is approved and becomes the newest, and bob's own can no longer renew."""
    out_dir = tmp_path / "clients"
    out_dir.mkdir(mode=0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    old, new = (_certificate(ca_key, "bob", ["dev"]) for _ in range(2))
    fingerprint = old.fingerprint(hashes.SHA256()).hex()
    ledger.append(
        str(out_dir),
        LedgerEntry(
            event="issued",
            user="bob",
            groups=("dev",),
            serial=format(old.serial_number, "X"),
            fingerprint_sha256=fingerprint,
            not_before=old.not_valid_before_utc,
            not_after=old.not_valid_after_utc,
            lifetime="2h",
            self_renew=True,
        ),
    )
    name = self_renewal_name("bob")
    issued = {
        "metadata": {
            "name": name,
            "resourceVersion": "10",
            "labels": policy_case.request()["metadata"]["labels"],
        },
        "status": {
            "conditions": [{"type": "Approved", "status": "True", "reason": "UsercertSelfRenewal"}],
            "certificate": base64.b64encode(new.public_bytes(serialization.Encoding.PEM)).decode(),
        },
    }
    thief = policy_case.request()
    thief["metadata"]["resourceVersion"] = "12"
    thief["spec"]["extra"] = {CREDENTIAL_ID: [f"X509SHA256={fingerprint}"]}
    kubectl = _OneWatch(
        [
            {"type": "MODIFIED", "object": issued},
            {"type": "DELETED", "object": issued},
            {"type": "ADDED", "object": thief},
            None,
        ]
    )
    batches = watch_approvals(kubectl=kubectl, out_dir=str(out_dir), progress=lambda _m: None)
    batch = next(batches)
    batches.close()
    assert [r.user for r in batch.recorded] == ["bob"]
    assert [(o.action, o.reason) for o in batch.outcomes] == [("deny", "NotTheLatestCertificate")]
