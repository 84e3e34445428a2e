"""`inspect`: what a credential says, whether its key matches, whether it chains to the CA."""

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Tuple

from . import ca as ca_module
from . import kubeconfig, openssl
from .certinfo import CertificateInfo
from .errors import InvalidInput
from .layout import UserFiles
from .times import iso

EXPIRING_DAYS = 30


def certificate_status(not_before, not_after, now=None):
    now = now or datetime.now(timezone.utc)
    if not_after <= now:
        return "expired"
    if not_before > now:
        return "not yet valid"
    return "expiring" if (not_after - now).days < EXPIRING_DAYS else "valid"


def format_name(pairs):
    return ",".join(f"{attribute}={value}" for attribute, value in pairs)


@dataclass
class Inspection:
    source: str
    kubeconfig: Optional[str]
    info: CertificateInfo
    key_matches: Optional[bool]  # None: no key to compare with
    chain_ca: Optional[str]
    chain_ok: Optional[bool]  # None: no CA to check against
    server: Optional[str] = None
    bindings: Optional[list] = None  # the tool's RBAC bindings for this user; None: not looked up
    bindings_note: Optional[str] = None

    @property
    def user(self):
        return self.info.common_name

    @property
    def groups(self) -> Tuple[str, ...]:
        return self.info.organizations

    @property
    def status(self):
        return certificate_status(self.info.not_before, self.info.not_after)

    def as_record(self):
        info = self.info
        return {
            "source": self.source,
            "user": self.user,
            "groups": list(self.groups),
            "issuer": format_name(info.issuer),
            "serial": info.serial,
            "notBefore": iso(info.not_before),
            "notAfter": iso(info.not_after),
            "daysLeft": info.days_left(),
            "status": self.status,
            "keyType": info.key_type,
            "keySize": info.key_bits,
            "fingerprintSHA256": info.fingerprint_sha256,
            "credentialID": info.credential_id,
            "keyMatches": self.key_matches,
            "chainCA": self.chain_ca,
            "chainValid": self.chain_ok,
            "kubeconfig": self.kubeconfig,
            "server": self.server,
            "bindings": [b.as_record() for b in self.bindings] if self.bindings is not None else None,
        }


def inspect(target, out_dir="clients", ca_cert=None):
    """Inspect a user in out_dir, a kubeconfig, or a PEM certificate."""
    source = locate(target, out_dir)
    what = f"the certificate in {source.shown}"
    info = openssl.certificate_info(source.cert_path, data=source.cert_pem, what=what)
    key_matches = None
    if source.key_path or source.key_pem:
        key_matches = openssl.public_key_of_key(source.key_path, data=source.key_pem,
                                                what=f"the private key in {source.shown}") == info.public_key
    chain_ca = _chain_ca(ca_cert)
    chain_ok = openssl.verify_chain(source.cert_path, chain_ca, data=source.cert_pem) if chain_ca else None
    return Inspection(source.shown, source.kubeconfig, info, key_matches, chain_ca, chain_ok, source.server)


def _chain_ca(ca_cert):
    if ca_cert:
        if not os.path.isfile(ca_cert):
            raise InvalidInput(f"cannot read the CA certificate {ca_cert}", hint="check --ca-cert")
        return ca_cert
    try:
        located = ca_module.locate_ca()
    except InvalidInput:
        return None
    return located[0] if located else None


@dataclass(frozen=True)
class CredentialSource:
    """Where a credential's certificate and key are: files openssl reads in place, or the bytes a
    kubeconfig holds (handed to openssl on stdin, never copied to a temporary file)."""

    shown: str
    cert_path: Optional[str] = None
    cert_pem: Optional[bytes] = None
    key_path: Optional[str] = None
    key_pem: Optional[bytes] = None
    kubeconfig: Optional[str] = None
    server: Optional[str] = None


def locate(target, out_dir):
    """The credential a user name (in out_dir), a kubeconfig file or a PEM certificate file names."""
    if os.path.isfile(target):
        if _looks_like_pem_certificate(target):
            return _certificate_file(target, os.path.splitext(target)[0] + ".key")
        return _from_kubeconfig(target)
    files = UserFiles.for_user(out_dir, target)
    if os.path.isfile(files.kubeconfig):
        return _from_kubeconfig(files.kubeconfig)
    if os.path.isfile(files.cert):
        return _certificate_file(files.cert, files.key)
    raise InvalidInput(f"no user {target!r} in {out_dir} and no file by that name",
                       hint="give a user name from 'kubectl usercert list', a kubeconfig or a .crt file")


def _certificate_file(cert, key):
    return CredentialSource(cert, cert_path=cert, key_path=key if os.path.isfile(key) else None)


def _looks_like_pem_certificate(path):
    with open(path, "rb") as handle:
        return b"-----BEGIN CERTIFICATE-----" in handle.read(65536)


def _from_kubeconfig(path):
    credentials = kubeconfig.current_user_credentials(path)
    return CredentialSource(path, cert_pem=credentials.cert_pem, key_pem=credentials.key_pem, kubeconfig=path,
                            server=credentials.server)
