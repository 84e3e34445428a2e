"""The signer kube-controller-manager runs for kubernetes.io/kube-apiserver-client (csrsigning,
pkg/controller/certificates/signer/signer.go with authority.PermissiveSigningPolicy)."""

import base64
import copy
import datetime
import secrets
from typing import List, Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from .csr import (
    CLUSTER_SIGNING_DURATION,
    KUBE_APISERVER_CLIENT_SIGNER,
    csr_signature_error,
    parse_csr_request,
)
from .timestamps import _go_time

_BACKDATE = datetime.timedelta(
    minutes=5
)  # authority.PermissiveSigningPolicy as signer.go sets it up
_SHORT = datetime.timedelta(hours=8)
_MIN_DURATION = datetime.timedelta(minutes=10)


def client_usages_problem(usages: Sequence[str]) -> Optional[str]:
    """validAPIServerClientUsages (pkg/controller/certificates/signer/signer.go)."""
    for usage in usages:
        if usage not in ("digital signature", "key encipherment", "client auth"):
            return "invalid usage for client certificate: %s" % usage
    if "client auth" not in usages:
        return "missing required usage for client certificate: client auth"
    return None


def _sign_hash(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


class CSRSigner:
    """The csrsigning controller for kubernetes.io/kube-apiserver-client: signs Approved requests
    with the client CA the way kube-controller-manager does (PermissiveSigningPolicy): subject and
    key from the request, random 128-bit serial, NotBefore backdated 5 minutes, the duration asked
    by expirationSeconds clamped to [10m, cluster_signing_duration], NotAfter not backdated for
    short (< 8h) certificates, KeyUsage/EKU from spec.usages, CA:FALSE, no other extension.

    Bad usages give a Failed condition (reason SignerValidationFailure); anything else the
    controller would only log and retry (a bad self-signature, an expired CA) lands in `errors`
    and the request stays unsigned."""

    def __init__(
        self,
        ca_cert: x509.Certificate,
        ca_key,
        cluster_signing_duration=CLUSTER_SIGNING_DURATION,
        signer_name: str = KUBE_APISERVER_CLIENT_SIGNER,
    ):
        self.ca_cert, self.ca_key = ca_cert, ca_key
        self.cluster_signing_duration = cluster_signing_duration
        self.signer_name = signer_name
        self.errors: List[str] = []

    def duration(self, expiration_seconds: Optional[int]) -> datetime.timedelta:
        if expiration_seconds is None:
            return self.cluster_signing_duration
        asked = datetime.timedelta(seconds=expiration_seconds)
        return max(_MIN_DURATION, min(asked, self.cluster_signing_duration))

    def handle(self, csr: dict, now: Optional[datetime.datetime] = None) -> Optional[dict]:
        """The request's new status, or None when this signer has nothing to do (yet)."""
        status = copy.deepcopy(csr.get("status") or {})
        conditions = status.get("conditions") or []
        types = {c.get("type") for c in conditions}
        spec, name = csr.get("spec") or {}, csr["metadata"]["name"]
        if (
            "Approved" not in types
            or types & {"Denied", "Failed"}
            or status.get("certificate")
            or spec.get("signerName") != self.signer_name
        ):
            return None
        now = now or datetime.datetime.now(datetime.timezone.utc)
        try:
            request = parse_csr_request(spec.get("request", ""))
        except ValueError as e:
            self.errors.append('unable to parse csr "%s": %s' % (name, e))
            return None
        problem = client_usages_problem(spec.get("usages") or [])
        if problem:
            status["conditions"] = conditions + [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "SignerValidationFailure",
                    "message": problem,
                    "lastUpdateTime": _go_time(now),
                    "lastTransitionTime": _go_time(now),
                }
            ]
            return status
        try:
            pem = self.sign(request, spec.get("usages") or [], spec.get("expirationSeconds"), now)
        except ValueError as e:
            self.errors.append('error auto signing csr "%s": %s' % (name, e))
            return None
        status["certificate"] = base64.b64encode(pem).decode("ascii")
        return status

    def sign(
        self,
        request: x509.CertificateSigningRequest,
        usages: Sequence[str],
        expiration_seconds: Optional[int],
        now: datetime.datetime,
    ) -> bytes:
        problem = csr_signature_error(request)
        if problem:
            raise ValueError("unable to verify certificate request signature: %s" % problem)
        ttl, ca_end = self.duration(expiration_seconds), self.ca_cert.not_valid_after_utc
        if now >= ca_end:
            raise ValueError(
                "refusing to sign a certificate that expired in the past: NotAfter=%s" % ca_end
            )
        not_after = min(now + ttl if ttl < _SHORT else now + ttl - _BACKDATE, ca_end)
        builder = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.ca_cert.subject)
            .public_key(request.public_key())
            .serial_number(secrets.randbits(128) or 1)
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(not_after)
        )
        digital, encipherment = (
            "digital signature" in usages or "signing" in usages,
            "key encipherment" in usages,
        )
        if digital or encipherment:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=digital,
                    content_commitment=False,
                    key_encipherment=encipherment,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        if "client auth" in usages:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        try:
            ski = self.ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
            )
        except x509.ExtensionNotFound:
            pass
        cert = builder.sign(self.ca_key, _sign_hash(self.ca_key))
        return cert.public_bytes(serialization.Encoding.PEM)
