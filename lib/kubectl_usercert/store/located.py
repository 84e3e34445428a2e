"""A credential that exists: found by user name (in an out-dir), kubeconfig or PEM file, and read.

Used by inspect, verify and demo. A kubeconfig's certificate and key are handed to openssl on
stdin, never copied into a temporary file.
"""

import os
from dataclasses import dataclass
from typing import Optional

from ..cluster import user_kubeconfig
from ..errors import InvalidInput
from ..output.results import Inspection
from ..pki import openssl
from ..pki.signers.local import locate_ca
from .files import read_input
from .layout import UserFiles


@dataclass(frozen=True, eq=False, repr=False)
class CredentialSource:
    """Where a credential's certificate and key are: files openssl reads in place, or the bytes a
    kubeconfig holds."""

    shown: str
    cert_path: Optional[str] = None
    cert_pem: Optional[bytes] = None
    key_path: Optional[str] = None
    key_pem: Optional[bytes] = None
    kubeconfig: Optional[str] = None
    server: Optional[str] = None


def find(target, out_dir):
    """The credential a user name (in out_dir), a kubeconfig file or a PEM certificate file names."""
    if os.path.isfile(target):
        if _looks_like_pem_certificate(target):
            return _certificate_file(target, os.path.splitext(target)[0] + ".key")
        return _from_kubeconfig(target)
    user_files = UserFiles.for_user(out_dir, target)
    if os.path.isfile(user_files.kubeconfig):
        return _from_kubeconfig(user_files.kubeconfig)
    if os.path.isfile(user_files.cert):
        return _certificate_file(user_files.cert, user_files.key)
    raise InvalidInput(
        f"no user {target!r} in {out_dir} and no file by that name",
        hint="give a user name from 'kubectl usercert list', a kubeconfig or a .crt file",
    )


def read(source, ca_cert=None, bindings=None, notes=(), look_for_ca=True):
    """The Inspection of a located credential: what it says, whether its key matches, whether it
    chains to `ca_cert` (else, with `look_for_ca`, the CA found on this machine)."""
    info = openssl.certificate_info(
        source.cert_path, data=source.cert_pem, what=f"the certificate in {source.shown}"
    )
    key_matches = None
    if source.key_path or source.key_pem:
        key_matches = (
            openssl.public_key_of_key(
                source.key_path, data=source.key_pem, what=f"the private key in {source.shown}"
            )
            == info.public_key
        )
    chain_ca = chain_ca_for(ca_cert) if ca_cert or look_for_ca else None
    chain_ok = (
        openssl.verify_chain(source.cert_path, chain_ca, data=source.cert_pem) if chain_ca else None
    )
    return Inspection(
        source.shown,
        source.kubeconfig,
        info,
        key_matches,
        chain_ca,
        chain_ok,
        source.server,
        bindings=bindings,
        notes=tuple(notes),
    )


def chain_ca_for(ca_cert):
    if ca_cert:
        if not os.path.isfile(ca_cert):
            raise InvalidInput(f"cannot read the CA certificate {ca_cert}", hint="check --ca-cert")
        return ca_cert
    try:
        located = locate_ca()
    except InvalidInput:
        return None
    return located[0] if located else None


def _certificate_file(cert, key):
    return CredentialSource(cert, cert_path=cert, key_path=key if os.path.isfile(key) else None)


def _looks_like_pem_certificate(path):
    return b"-----BEGIN CERTIFICATE-----" in read_input(
        path, "the file", "check the path and its permissions", 8 << 20
    )


def _from_kubeconfig(path):
    user = user_kubeconfig.current_user(path)
    return CredentialSource(
        path, cert_pem=user.cert_pem, key_pem=user.key_pem, kubeconfig=path, server=user.server
    )
