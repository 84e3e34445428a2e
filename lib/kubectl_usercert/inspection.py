"""`inspect`: what a credential says, whether its key matches, whether it chains to the CA."""

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Tuple

from . import ca as ca_module
from . import kubeconfig, openssl
from .errors import InvalidInput
from .layout import UserFiles
from .staging import write_private
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
    info: openssl.CertificateInfo
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
    with _materialized(target, out_dir) as (cert_path, key_path, kubeconfig_path, server):
        info = openssl.certificate_info(cert_path)
        key_matches = None
        if key_path:
            key_matches = openssl.public_key_of_key(key_path) == openssl.public_key_of_cert(cert_path)
        chain_ca = _chain_ca(ca_cert)
        chain_ok = openssl.verify_chain(cert_path, chain_ca) if chain_ca else None
        source = kubeconfig_path or cert_path
    return Inspection(source, kubeconfig_path, info, key_matches, chain_ca, chain_ok, server)


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


@contextmanager
def _materialized(target, out_dir):
    """Yield (cert, key or None, kubeconfig or None, server or None) as files openssl can read."""
    if os.path.isfile(target):
        if _looks_like_pem_certificate(target):
            key = os.path.splitext(target)[0] + ".key"
            yield target, key if os.path.isfile(key) else None, None, None
            return
        with _from_kubeconfig(target) as found:
            yield found
        return
    files = UserFiles.for_user(out_dir, target)
    if os.path.isfile(files.kubeconfig):
        with _from_kubeconfig(files.kubeconfig) as found:
            yield found
    elif os.path.isfile(files.cert):
        yield files.cert, files.key if os.path.isfile(files.key) else None, None, None
    else:
        raise InvalidInput(f"no user {target!r} in {out_dir} and no file by that name",
                           hint="give a user name from 'kubectl usercert list', a kubeconfig or a .crt file")


def _looks_like_pem_certificate(path):
    with open(path, "rb") as handle:
        return b"-----BEGIN CERTIFICATE-----" in handle.read(65536)


@contextmanager
def _from_kubeconfig(path):
    credentials = kubeconfig.current_user_credentials(path)
    folder = tempfile.mkdtemp(prefix="usercert-inspect-")
    try:
        cert = os.path.join(folder, "client.crt")
        write_private(cert, credentials.cert_pem)
        key = None
        if credentials.key_pem:
            key = os.path.join(folder, "client.key")
            write_private(key, credentials.key_pem)
        yield cert, key, path, credentials.server
    finally:
        shutil.rmtree(folder, ignore_errors=True)
