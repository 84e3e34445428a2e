"""Signing with the cluster CA's key on this machine (a control-plane node, or a copied CA)."""

import os
import secrets

from . import ca as ca_module
from . import openssl

# kubeadm's client-certificate profile (cmd/kubeadm/app/util/pkiutil/pki_helpers.go).
_PROFILE = """basicConstraints = critical,CA:FALSE
keyUsage = critical,{key_usage}
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
"""


def client_profile(spec, ca_has_key_id=True):
    # The authority key identifier points at the CA's own; a CA without one gets none (openssl 3
    # refuses `keyid` then, and LibreSSL writes an empty extension).
    profile = _PROFILE.format(key_usage=spec.key_usage)
    return profile + ("authorityKeyIdentifier = keyid\n" if ca_has_key_id else "")


def random_serial():
    """A 128-bit random serial (RFC 5280 allows up to 20 octets; openssl keeps it positive)."""
    return secrets.token_hex(16).upper().lstrip("0") or "1"


class LocalCASigner:
    name = "local"

    def __init__(self, ca):
        self.ca = ca

    @property
    def ca_fingerprint(self):
        return self.ca.info.fingerprint_sha256

    def ca_pem(self):
        with open(self.ca.cert_path, "rb") as handle:
            return handle.read()

    notes = ()

    def describe(self, days):
        return f"Signing with the local CA for {days} days"

    def check_validity(self, info, days):
        pass

    def withdraw(self):
        pass  # nothing left anywhere but the staging folder, which goes

    def effective_days(self, days):
        return ca_module.clip_days(self.ca, days)

    def sign(self, csr_path, spec, days, workdir, cert_path):
        extfile = os.path.join(workdir, "client-profile.ext")
        with open(extfile, "w", encoding="ascii") as handle:
            handle.write(client_profile(spec, self.ca.info.has_subject_key_id))
        info = openssl.sign_csr(csr_path, self.ca, days=days, serial_hex=random_serial(), extfile=extfile,
                                cert_path=cert_path)
        os.unlink(extfile)
        return info

    def chains(self, cert_path):
        return openssl.verify_chain(cert_path, self.ca.cert_path, ca_info=self.ca.info)


def local_signer(ca_cert=None, ca_key=None, passphrase_file=None):
    """A LocalCASigner for the given or discovered CA, checked; an error saying where it looked."""
    located = ca_module.locate_ca(ca_cert, ca_key)
    if located is None:
        raise ca_module.no_ca_found_error()
    return LocalCASigner(ca_module.load_ca(*located, passphrase_file=passphrase_file))
