"""The person's requests: a new key made into their store with a certificate signing request for it
(`request`, `renew --self`), and a request filed through the cluster's CSR API as the person
themselves, waited for and checked (`request --submit`, `renew --self`).

The key is made in memory (openssl writes it to a pipe), named by its public key's fingerprint and
written into the store whole; the request is made from it on openssl's stdin. A key whose request
comes to nothing (the run fails or is interrupted before anything uses it) is removed again.
"""

import os
import tempfile
from dataclasses import dataclass

from .. import signals
from ..cluster import user_kubeconfig
from ..errors import UsercertError
from ..pki import openssl
from ..pki.certificate import public_key_fingerprint
from ..pki.keys import KeySpec
from ..store import files
from ..times import iso
from .issue import check_issued


@dataclass(frozen=True, eq=False, repr=False)
class NewRequest:
    """A key in the store and the request made for it (the key itself stays in the store)."""

    fingerprint: str  # of the public key (SHA-256 of its SubjectPublicKeyInfo, hex)
    public_key: str  # PEM
    request_pem: bytes
    spec: KeySpec


def new_key_request(*, store, subject, key, purpose="request", progress):
    """A new `key` (KeySpec) in `store`, a request for `subject` made from it, and the record of
    what was asked (requests/<fingerprint>.json)."""
    progress(f"Generating {key.describe()} key")
    key_pem = openssl.generate_key(key)
    progress("Creating the certificate signing request")
    request_pem, public_key = openssl.request_and_public_key(key_pem, subject)
    fingerprint = public_key_fingerprint(public_key)
    record = {
        "user": subject.user,
        "groups": list(subject.groups),
        "keyType": key.type,
        "keySize": key.bits,
        "purpose": purpose,
        "time": iso(_now()),
    }
    with signals.critical():  # the key and its record, or neither
        store.save_key(fingerprint, key_pem)
        try:
            store.save_request(fingerprint, record)
        except BaseException:
            store.remove_key(fingerprint)
            raise
    return NewRequest(fingerprint, public_key, request_pem, key)


def forget_request(store, fingerprint):
    """Remove a key that nothing uses, and its record (a request that came to nothing)."""
    with signals.critical():
        store.remove_key(fingerprint)
        store.remove_request(fingerprint)


def filed_through_cluster(*, signer, request_pem, spec, validity, public_key, subject, progress):
    """(certificate PEM, CertificateInfo) for `request_pem`, filed through the CSR API by `signer`
    (a ClusterCSRSigner bound to the person's kubeconfig), waited for, and checked like every
    certificate a signer hands back: the key, exactly the subject, client auth, not a CA, valid now.
    Only public data goes into the temporary folder."""
    with tempfile.TemporaryDirectory(prefix="usercert-request-") as work:
        csr_path, cert_path = os.path.join(work, "request.csr"), os.path.join(work, "issued.crt")
        files.write_public(csr_path, request_pem)
        progress(signer.describe(validity))
        info = signer.sign(csr_path, spec, validity, work, cert_path)
        progress("Checking the certificate")
        try:
            check_issued(info, cert_path, public_key, subject, signer)
        except UsercertError:
            signer.withdraw()
            raise
        signer.check_validity(info, validity)
        return files.read_bytes(cert_path), info


def confirm_accepted(*, signer, store, endpoint, user, cert_pem, key_pem, subject):
    """Ask the cluster with the new credential itself (SelfSubjectReview, as verify does) whether it
    accepts it, from a kubeconfig in the store's private scratch folder (never a system temporary
    folder: it holds the key); a refusal is an error."""
    with store.scratch() as folder:
        trial = os.path.join(folder, "kubeconfig")
        config = user_kubeconfig.build(endpoint, user, cert_pem, key_pem)
        files.write_private(trial, user_kubeconfig.dump(config))
        signer.confirm(trial, subject)


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
