"""Authentication (k8s.io/apiserver x509 authenticator), and the user groups it hands out."""
import datetime
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .timestamps import _go_time

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: Tuple[str, ...]

    @property
    def is_anonymous(self) -> bool:
        return self.name == "system:anonymous"


ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED,))


class AuthenticationError(Exception):
    """reason is a short tag for tests; str() is Go's error text."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _check_validity(cert: x509.Certificate, now: datetime.datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise AuthenticationError("not yet valid", (
            "x509: certificate has expired or is not yet valid: current time %s is before %s"
            % (_go_time(now), _go_time(cert.not_valid_before_utc))))
    if now > cert.not_valid_after_utc:
        raise AuthenticationError("expired", (
            "x509: certificate has expired or is not yet valid: current time %s is after %s"
            % (_go_time(now), _go_time(cert.not_valid_after_utc))))


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
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages


def user_from_certificate(cert: x509.Certificate) -> UserInfo:
    """CommonNameUserConversion: last CN; every O in order (multi-valued RDNs too)."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = cns[-1].value if cns else ""
    if not name:
        return ANONYMOUS
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return UserInfo(str(name), tuple(orgs) + (AUTHENTICATED,))


def authenticate(der: Optional[bytes], client_cas: Sequence[x509.Certificate],
                 now: Optional[datetime.datetime] = None) -> UserInfo:
    """The user for a peer certificate; raises AuthenticationError (-> 401)."""
    if not der:
        return ANONYMOUS
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        leaf = x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise AuthenticationError("bad certificate", "x509: %s" % e)
    _check_validity(leaf, now)  # Go checks the leaf's dates before building chains
    ca = _issuer_of(leaf, client_cas, now)
    if not (_allows_client_auth(leaf) and _allows_client_auth(ca)):
        raise AuthenticationError("incompatible key usage",
                                  "x509: certificate specifies an incompatible key usage")
    return user_from_certificate(leaf)
