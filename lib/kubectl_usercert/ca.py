"""The signing CA: where to find it on a control-plane node, and whether it can sign now.

The *client* CA signs; the cluster's *server* CA comes from the admin's kubeconfig. On kubeadm
they are one file, on k3s and rke2 they are not, so discovery prefers `client-ca.*`.
"""

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from . import openssl
from .certinfo import CertificateInfo
from .errors import InvalidInput

CA_CERT_ENV = "USERCERT_CA_CERT"
CA_KEY_ENV = "USERCERT_CA_KEY"

# (cert, key) pairs in the order they are tried.
WELL_KNOWN_CA_PAIRS = (
    ("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key"),  # kubeadm, kind
    ("/var/lib/rancher/k3s/server/tls/client-ca.crt", "/var/lib/rancher/k3s/server/tls/client-ca.key"),
    ("/var/lib/rancher/rke2/server/tls/client-ca.crt", "/var/lib/rancher/rke2/server/tls/client-ca.key"),
    ("/var/snap/microk8s/current/certs/ca.crt", "/var/snap/microk8s/current/certs/ca.key"),
    ("~/.minikube/ca.crt", "~/.minikube/ca.key"),
)


@dataclass(frozen=True)
class LocalCA:
    cert_path: str
    key_path: str
    passphrase_file: Optional[str]
    info: CertificateInfo


def locate_ca(ca_cert=None, ca_key=None, environ=None, candidates=WELL_KNOWN_CA_PAIRS):
    """The (cert, key) paths to sign with: switches, then environment, then well-known places.

    Returns None when nothing was given and nothing was found; `searched_places` tells where.
    """
    environ = os.environ if environ is None else environ
    cert = ca_cert or environ.get(CA_CERT_ENV)
    key = ca_key or environ.get(CA_KEY_ENV)
    if cert or key:
        if not (cert and key):
            raise InvalidInput("--ca-cert and --ca-key go together",
                               hint=f"give both (or set {CA_CERT_ENV} and {CA_KEY_ENV})")
        return cert, key
    for cert, key in candidates:
        cert, key = os.path.expanduser(cert), os.path.expanduser(key)
        if os.path.isfile(cert) and os.path.isfile(key):
            return cert, key
    return None


def searched_places(candidates=WELL_KNOWN_CA_PAIRS):
    return ", ".join(os.path.expanduser(cert).rsplit(".", 1)[0] + ".{crt,key}" for cert, _ in candidates)


def no_ca_found_error(candidates=WELL_KNOWN_CA_PAIRS):
    return InvalidInput(
        f"no CA certificate and key found (looked in {searched_places(candidates)})",
        hint=f"give --ca-cert and --ca-key (or {CA_CERT_ENV}/{CA_KEY_ENV}); on a managed cluster use --signer csr "
             "with your kubeconfig",
    )


def load_ca(cert_path, key_path, passphrase_file=None, now=None):
    """Check that the pair can sign client certificates now; return it as a LocalCA."""
    for path, what in ((cert_path, "CA certificate"), (key_path, "CA key")):
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise InvalidInput(f"cannot read the {what} {path}",
                               hint="check the path and your permissions (the key is often root-only: try sudo)")
    if passphrase_file and not os.path.isfile(passphrase_file):
        raise InvalidInput(f"cannot read the passphrase file {passphrase_file}", hint="check --ca-key-passphrase-file")
    if _is_encrypted(key_path) and not passphrase_file:
        raise InvalidInput(f"the CA key {key_path} is encrypted",
                           hint="give its passphrase in a file with --ca-key-passphrase-file")
    info = openssl.certificate_info(cert_path, what=f"the CA certificate {cert_path}")
    _check_usable(info, cert_path, now or datetime.now(timezone.utc))
    if openssl.public_key_of_key(key_path, passphrase_file=passphrase_file, what=f"the CA key {key_path}") \
            != info.public_key:
        raise InvalidInput(f"the CA key {key_path} does not belong to the CA certificate {cert_path}",
                           hint="pass the matching pair (same base name, .crt and .key)")
    return LocalCA(cert_path, key_path, passphrase_file, info)


def _check_usable(info, cert_path, now):
    if not info.is_ca:
        raise InvalidInput(f"{cert_path} is not a CA certificate (basicConstraints CA:TRUE is missing)",
                           hint="point --ca-cert at the cluster's client CA, e.g. /etc/kubernetes/pki/ca.crt")
    if info.not_before > now:
        raise InvalidInput(f"the CA certificate {cert_path} is not valid before {info.not_before:%Y-%m-%d %H:%M}Z",
                           hint="check this machine's clock")
    if info.not_after <= now:
        raise InvalidInput(f"the CA certificate {cert_path} expired on {info.not_after:%Y-%m-%d}",
                           hint="the cluster's CA must be renewed before it can sign anything")


def _is_encrypted(key_path):
    # Reads only the PEM header lines, which say whether the key is encrypted.
    try:
        with open(key_path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b"ENCRYPTED" in head


def clip_days(ca, days, now=None):
    """Days of validity the CA can give; fewer than asked when the CA expires sooner."""
    now = now or datetime.now(timezone.utc)
    available = int((ca.info.not_after - now).total_seconds() // 86400)
    if available < 1:
        raise InvalidInput(f"the CA expires in less than a day ({ca.info.not_after:%Y-%m-%d %H:%M}Z)",
                           hint="renew the cluster CA first")
    return min(days, available)
