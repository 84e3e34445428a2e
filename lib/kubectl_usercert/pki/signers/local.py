"""Signing with the cluster CA's key on this machine (a control-plane node, or a copy of the CA).

The *client* CA signs; the cluster's *server* CA comes from the admin's kubeconfig. On kubeadm
they are one file, on k3s and rke2 they are not, so discovery prefers `client-ca.*`.
"""

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

from ...errors import InvalidInput, UsercertError
from ...store.files import read_bytes, read_input, write_private
from ...times import human_duration, is_whole_days
from .. import openssl
from ..certificate import BACKDATE, MIN_VALIDITY, CertificateInfo

CA_CERT_ENV = "USERCERT_CA_CERT"
CA_KEY_ENV = "USERCERT_CA_KEY"

# (cert, key) pairs in the order they are tried.
WELL_KNOWN_CA_PAIRS = (
    ("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key"),  # kubeadm, kind
    (
        "/var/lib/rancher/k3s/server/tls/client-ca.crt",
        "/var/lib/rancher/k3s/server/tls/client-ca.key",
    ),
    (
        "/var/lib/rancher/rke2/server/tls/client-ca.crt",
        "/var/lib/rancher/rke2/server/tls/client-ca.key",
    ),
    ("/var/snap/microk8s/current/certs/ca.crt", "/var/snap/microk8s/current/certs/ca.key"),
    ("~/.minikube/ca.crt", "~/.minikube/ca.key"),
)

# kubeadm's client-certificate profile (cmd/kubeadm/app/util/pkiutil/pki_helpers.go).
_PROFILE = """basicConstraints = critical,CA:FALSE
keyUsage = critical,{key_usage}
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
"""


@dataclass(frozen=True, eq=False, repr=False)
class LocalCA:
    cert_path: str
    key_path: str
    passphrase_file: Optional[str]
    info: CertificateInfo
    given: bool  # named on the command line or in the environment (not found in a well-known place)


def locate_ca(ca_cert=None, ca_key=None, environ=None, candidates=WELL_KNOWN_CA_PAIRS):
    """(cert, key, given) to sign with: switches, then environment, then well-known places; None if nothing."""
    environ = os.environ if environ is None else environ
    cert = ca_cert or environ.get(CA_CERT_ENV)
    key = ca_key or environ.get(CA_KEY_ENV)
    if cert or key:
        if not (cert and key):
            raise InvalidInput(
                "--ca-cert and --ca-key go together",
                hint=f"give both (or set {CA_CERT_ENV} and {CA_KEY_ENV})",
            )
        return cert, key, True
    for cert, key in candidates:
        cert, key = os.path.expanduser(cert), os.path.expanduser(key)
        if os.path.isfile(cert) and os.path.isfile(key):
            return cert, key, False
    return None


def searched_places(candidates=WELL_KNOWN_CA_PAIRS):
    """Where locate_ca looks when no CA is given, as one line: /etc/kubernetes/pki/ca.{crt,key}, ..."""
    return ", ".join(
        os.path.expanduser(cert).rsplit(".", 1)[0] + ".{crt,key}" for cert, _ in candidates
    )


def no_ca_found_error(candidates=WELL_KNOWN_CA_PAIRS):
    return InvalidInput(
        f"no CA certificate and key found (looked in {searched_places(candidates)})",
        hint=f"give --ca-cert and --ca-key (or {CA_CERT_ENV}/{CA_KEY_ENV}); on a managed cluster use "
        "--signer csr with your kubeconfig",
    )


def load_ca(cert_path, key_path, passphrase_file=None, given=True, now=None):
    """Check that the pair can sign client certificates now; return it as a LocalCA."""
    for path, what in ((cert_path, "CA certificate"), (key_path, "CA key")):
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise InvalidInput(
                f"cannot read the {what} {path}",
                hint="check the path and your permissions (the key is often root-only: try sudo)",
            )
    _require_pem(
        cert_path,
        b"-----BEGIN CERTIFICATE-----",
        "CA certificate",
        f"convert it: openssl x509 -inform DER -in {cert_path} -out ca.crt",
    )
    _require_pem(
        key_path,
        b"-----BEGIN",
        "CA key",
        f"convert it: openssl pkey -inform DER -in {key_path} -out ca.key",
    )
    if passphrase_file and not os.path.isfile(passphrase_file):
        raise InvalidInput(
            f"cannot read the passphrase file {passphrase_file}",
            hint="check --ca-key-passphrase-file",
        )
    if _is_encrypted(key_path) and not passphrase_file:
        raise InvalidInput(
            f"the CA key {key_path} is encrypted",
            hint="give its passphrase in a file with --ca-key-passphrase-file",
        )
    info = _as_input(
        lambda: openssl.certificate_info(cert_path, what=f"the CA certificate {cert_path}"),
        "give the CA certificate in PEM form (openssl x509 -inform DER -in FILE -out ca.crt)",
    )
    _check_usable(info, cert_path, now or datetime.now(timezone.utc))
    # That the key belongs to the certificate, openssl checks when it signs (`openssl ca` refuses
    # a pair that does not match); `check_key` says which when signing fails.
    return LocalCA(cert_path, key_path, passphrase_file, info, given)


def check_key(ca):
    """Refuse a CA key that cannot be read or does not belong to the CA certificate."""
    public_key = _as_input(
        lambda: openssl.public_key_of_key(
            ca.key_path, passphrase_file=ca.passphrase_file, what=f"the CA key {ca.key_path}"
        ),
        "give the CA's private key in PEM form, and its passphrase if it has one",
    )
    if public_key != ca.info.public_key:
        raise InvalidInput(
            f"the CA key {ca.key_path} does not belong to the CA certificate {ca.cert_path}",
            hint="pass the matching pair (same base name, .crt and .key)",
        )


def _require_pem(path, marker, what, hint):
    """PEM, as every supported openssl reads it (OpenSSL 3 guesses DER, LibreSSL does not)."""
    head = read_input(path, f"the {what}", hint)
    if marker not in head:
        raise InvalidInput(
            f"openssl could not read the {what} {path}: it is {'empty' if not head else 'not PEM'}",
            hint=hint,
        )


def _as_input(read, hint):
    """A CA file openssl cannot read is bad input (exit 2), with a hint."""
    try:
        return read()
    except UsercertError as exc:
        raise InvalidInput(exc.message, hint=exc.hint or hint, details=exc.details) from None


def _check_usable(info, cert_path, now):
    if not info.is_ca:
        raise InvalidInput(
            f"{cert_path} is not a CA certificate (basicConstraints CA:TRUE is missing)",
            hint="point --ca-cert at the cluster's client CA, e.g. /etc/kubernetes/pki/ca.crt",
        )
    if info.not_before > now:
        raise InvalidInput(
            f"the CA certificate {cert_path} is not valid before {info.not_before:%Y-%m-%d %H:%M}Z",
            hint="check this machine's clock",
        )
    if info.not_after <= now:
        raise InvalidInput(
            f"the CA certificate {cert_path} expired on {info.not_after:%Y-%m-%d}",
            hint="the cluster's CA must be renewed before it can sign anything",
        )


def _is_encrypted(key_path):
    # Reads only the PEM header lines, which say whether the key is encrypted.
    try:
        with open(key_path, "rb") as handle:
            return b"ENCRYPTED" in handle.read(4096)
    except OSError:
        return False


def random_serial():
    """A 128-bit random serial (RFC 5280 allows up to 20 octets; openssl keeps it positive)."""
    return secrets.token_hex(16).upper().lstrip("0") or "1"


def client_profile(spec, ca_has_key_id=True):
    # The authority key identifier points at the CA's own; a CA without one gets none (openssl 3
    # refuses `keyid` then, and LibreSSL writes an empty extension).
    profile = _PROFILE.format(key_usage=spec.key_usage)
    return profile + ("authorityKeyIdentifier = keyid\n" if ca_has_key_id else "")


class LocalSigner:
    """The Signer (see signers.Signer) that holds the CA key."""

    name = "local"

    def __init__(self, ca):
        self.ca = ca
        self.notes = []

    @property
    def ca_fingerprint(self):
        return self.ca.info.fingerprint_sha256

    @property
    def ca_cert_path(self):
        return self.ca.cert_path

    def server_ca_pem(self):
        return read_bytes(self.ca.cert_path)

    def ledger_fields(self):
        """How to sign alike next time: the CA's fingerprint, and its files when they were named."""
        return {
            "signer": self.name,
            "ca_fingerprint_sha256": self.ca_fingerprint,
            "ca_cert": os.path.abspath(self.ca.cert_path) if self.ca.given else None,
            "ca_key": os.path.abspath(self.ca.key_path) if self.ca.given else None,
        }

    def rehearse(self, subject, spec, validity, progress):
        """Nothing to ask the cluster: the CA here signs (its files were read and checked already)."""

    def grant(self, validity, now=None):
        """The validity the CA can give: `validity` (a timedelta), or less when the CA expires sooner
        (whole days stay whole days)."""
        if validity < MIN_VALIDITY:
            raise InvalidInput(
                f"a certificate for less than 10 minutes ({human_duration(validity)}) is of no use",
                hint="use --expiration 10m or longer",
            )
        now = now or datetime.now(timezone.utc)
        left = self.ca.info.not_after - now
        whole_days = is_whole_days(validity)
        available = (
            timedelta(days=left.days)
            if whole_days
            else timedelta(minutes=left // timedelta(minutes=1))
        )
        if available < (timedelta(days=1) if whole_days else MIN_VALIDITY):
            raise InvalidInput(
                f"the CA expires too soon ({self.ca.info.not_after:%Y-%m-%d %H:%M}Z)",
                hint="renew the cluster CA first",
            )
        if validity > available:
            self.notes.append(
                f"validity clipped to {human_duration(available)}: the CA expires on "
                f"{self.ca.info.not_after:%Y-%m-%d}"
            )
            return available
        return validity

    def describe(self, validity):
        return f"Signing with the local CA for {human_duration(validity)}"

    def sign(self, csr_path, spec, validity, workdir, cert_path, now=None):
        """From five minutes before now (as the cluster's own signer does, so a client whose clock
        runs a little ahead accepts it; never before the CA's own start) until now + validity."""
        extfile = os.path.join(workdir, "client-profile.ext")
        write_private(extfile, client_profile(spec, self.ca.info.has_subject_key_id))
        issued_at = (now or datetime.now(timezone.utc)).replace(microsecond=0)
        try:
            info = openssl.sign_csr(
                csr_path,
                self.ca,
                not_before=max(issued_at - BACKDATE, self.ca.info.not_before),
                not_after=issued_at + validity,
                serial_hex=random_serial(),
                extfile=extfile,
                cert_path=cert_path,
                scratch=os.path.join(workdir, ".ca"),
            )
        except UsercertError:
            check_key(self.ca)  # the likeliest cause, said plainly
            raise
        os.unlink(extfile)
        return info

    def chains(self, cert_path):
        return openssl.verify_chain(cert_path, self.ca.cert_path, ca_info=self.ca.info)

    def check_validity(self, info, validity):
        pass

    def confirm(self, _kubeconfig, _subject, with_key=True):
        pass  # chains() checked it against the CA that signed it

    def withdraw(self):
        pass  # nothing left anywhere but the staging folder, which goes
