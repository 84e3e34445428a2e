"""Many pending self-renewals at once, for the tests and the benchmark of `approve` over a hundred
requests: each user recorded in the ledger with the right to self-renew, and a request seeded into
the test API server as kube-apiserver would have stored it when the user filed it with their
latest certificate (spec.username, groups and the credential id set)."""

import base64
import hashlib
import os
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubectl_usercert.pki.signers.cluster_csr import self_renewal_name
from kubectl_usercert.store import ledger
from kubectl_usercert.store.ledger import LedgerEntry

CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"


def request_pem(cn, groups=()):
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    subject = x509.Name(names + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject)
    return request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def seed_renewals(server, out_dir, count, prefix="user"):
    """`count` users (PREFIX0...) in the ledger of `out_dir`, each with a pending self-renewal."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    requests = []
    for number in range(count):
        user = f"{prefix}{number}"
        fingerprint = hashlib.sha256(os.urandom(32)).hexdigest()  # their latest certificate's
        ledger.append(
            out_dir,
            LedgerEntry(
                event="issued",
                user=user,
                groups=("dev",),
                serial=f"{number + 1:032X}",
                fingerprint_sha256=fingerprint,
                not_before=now - timedelta(minutes=90),
                not_after=now + timedelta(minutes=30),
                key_type="ECDSA",
                key_bits=256,
                signer="local",
                lifetime="2h",
                key_held_by="owner",
                self_renew=True,
            ),
        )
        requests.append(
            {
                "apiVersion": "certificates.k8s.io/v1",
                "kind": "CertificateSigningRequest",
                "metadata": {
                    "name": self_renewal_name(user),
                    "labels": {"usercert.kubectl.io/purpose": "self-renewal"},
                },
                "spec": {
                    "request": base64.b64encode(request_pem(user, ["dev"])).decode(),
                    "signerName": CLIENT_SIGNER,
                    "expirationSeconds": 7200,
                    "usages": ["client auth", "digital signature"],
                    "username": user,
                    "groups": ["dev", "system:authenticated"],
                    "extra": {
                        "authentication.kubernetes.io/credential-id": [f"X509SHA256={fingerprint}"]
                    },
                },
                "status": {},
            }
        )
    server.seed(*requests)


def counting_kubectl(folder, real):
    """A kubectl that appends one line per run to folder/kubectl.log, then runs `real`; its path
    (for USERCERT_KUBECTL) and the log's."""
    log, wrapper = os.path.join(folder, "kubectl.log"), os.path.join(folder, "kubectl")
    with open(wrapper, "w") as handle:
        handle.write(f'#!/bin/sh\necho "$1 $2" >> "{log}"\nexec "{real}" "$@"\n')
    os.chmod(wrapper, 0o755)
    return wrapper, log
