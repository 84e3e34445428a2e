"""Authentication (k8s.io/apiserver x509 authenticator), and the user groups it hands out."""

import datetime
import hashlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .timestamps import _go_time

MASTERS = "system:masters"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"  # user.CredentialIDKey
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"


@dataclass(frozen=True)
class UserInfo:
    """user.Info: uid is empty for x509 users; extra holds (key, values) pairs (a map of string to
    list of strings on the wire), kept as tuples so that a UserInfo stays hashable."""

    name: str
    groups: Tuple[str, ...]
    uid: str = ""
    extra: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()

    @property
    def is_anonymous(self) -> bool:
        return self.name == "system:anonymous"

    def extra_map(self) -> Dict[str, List[str]]:
        return {key: list(values) for key, values in self.extra}

    def as_user_info(self) -> dict:
        """authentication/v1 UserInfo as JSON (empty uid and extra left out: omitempty)."""
        info = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            info["uid"] = self.uid
        if self.extra:
            info["extra"] = self.extra_map()
        return info


ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))


class AuthenticationError(Exception):
    """reason is a short tag for tests; str() is Go's error text."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _check_validity(cert: x509.Certificate, now: datetime.datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise AuthenticationError(
            "not yet valid",
            (
                "x509: certificate has expired or is not yet valid: current time %s is before %s"
                % (_go_time(now), _go_time(cert.not_valid_before_utc))
            ),
        )
    if now > cert.not_valid_after_utc:
        raise AuthenticationError(
            "expired",
            (
                "x509: certificate has expired or is not yet valid: current time %s is after %s"
                % (_go_time(now), _go_time(cert.not_valid_after_utc))
            ),
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issuer_of(leaf: x509.Certificate, cas: Sequence[x509.Certificate], now) -> x509.Certificate:
    for ca in cas:
        try:
            leaf.verify_directly_issued_by(ca)
        except Exception:
            continue
        if _is_ca(ca) and ca.not_valid_before_utc <= now <= ca.not_valid_after_utc:
            return ca
    raise AuthenticationError("unknown authority", "x509: certificate signed by unknown authority")


def _allows_client_auth(cert: x509.Certificate) -> bool:
    # Go: no EKU extension means any usage; otherwise clientAuth or anyEKU.
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return (
        ExtendedKeyUsageOID.CLIENT_AUTH in usages
        or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages
    )


def credential_id(der: bytes) -> str:
    """The id kube-apiserver (1.32+, kubernetes PR #125634) gives a client certificate: the SHA-256
    of the leaf's DER, lowercase hex."""
    return "X509SHA256=" + hashlib.sha256(der).hexdigest()


def user_from_certificate(cert: x509.Certificate, with_credential_id: bool = True) -> UserInfo:
    """CommonNameUserConversion: last CN; every O in order (multi-valued RDNs too); no uid; the
    certificate's credential id in extra (left out, as before 1.32, when with_credential_id is false).
    The id hashes the DER as received (cryptography keeps the original bytes)."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = cns[-1].value if cns else ""
    if not name:
        return ANONYMOUS
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    extra = (
        ((CREDENTIAL_ID, (credential_id(cert.public_bytes(serialization.Encoding.DER)),)),)
        if with_credential_id
        else ()
    )
    return UserInfo(str(name), tuple(orgs) + (AUTHENTICATED,), extra=extra)


def authenticate(
    der: Optional[bytes],
    client_cas: Sequence[x509.Certificate],
    now: Optional[datetime.datetime] = None,
    credential_ids: bool = True,
) -> UserInfo:
    """The user for a peer certificate; raises AuthenticationError (-> 401). `credential_ids`: whether
    the user's extra names the certificate (kube-apiserver 1.32+) or not (older clusters)."""
    if not der:
        return ANONYMOUS
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        leaf = x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise AuthenticationError("bad certificate", "x509: %s" % e) from None
    _check_validity(leaf, now)  # Go checks the leaf's dates before building chains
    ca = _issuer_of(leaf, client_cas, now)
    if not (_allows_client_auth(leaf) and _allows_client_auth(ca)):
        raise AuthenticationError(
            "incompatible key usage", "x509: certificate specifies an incompatible key usage"
        )
    return user_from_certificate(leaf, credential_ids)
