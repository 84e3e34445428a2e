"""Reading certificates, requests and keys with openssl: one run each, parsed by printout."""

import re

from ...errors import InvalidInput, UsercertError
from . import printout
from .runner import attempt, complaint, flavour, passin_args, run

# One x509 run prints everything printout.parse_certificate reads, in this order.
CERTIFICATE_FIELDS = (
    "-nameopt",
    "RFC2253,-dn_rev",
    "-subject",
    "-issuer",
    "-serial",
    "-startdate",
    "-enddate",
    "-fingerprint",
    "-sha256",
    "-pubkey",
    "-text",
    "-certopt",
    "no_header,no_version,no_serial,no_signame,no_validity,no_subject,no_issuer,no_sigdump,no_aux",
)
_REQUEST_FIELDS = (
    "-verify",
    "-nameopt",
    "RFC2253,-dn_rev,show_type",
    "-subject",
    "-pubkey",
    "-text",
    "-reqopt",
    "no_header,no_version,no_subject,no_extensions,no_sigdump,no_attributes",
)


def request_info(csr_path, der=False, shown=None):
    """What a CSR asks for, after checking its self-signature (proof that its maker holds the key).
    `shown` names the request in messages (the user's file, not a private copy of it)."""
    shown = shown or csr_path
    form = ["-inform", "DER"] if der else []
    done = attempt(["req", "-in", csr_path, *form, *_REQUEST_FIELDS])
    out, err = done.out, done.err
    if not done.ok:
        if re.search(r"verify fail|signature", err, re.I):
            raise _bad_signature(shown, err)
        raise InvalidInput(
            f"openssl could not read the certificate signing request {shown}",
            hint="give a PEM or DER certificate signing request (openssl req -new)",
            details=complaint(err),
        )
    # openssl 3.0 exits 0 even when the signature does not verify: read what it says.
    if "verify OK" not in out + err:
        raise _bad_signature(shown, err)
    return printout.parse_request(out, shown)


def _bad_signature(csr_path, stderr):
    return UsercertError(
        f"the signature of the request {csr_path} does not verify",
        hint="the request was damaged or altered; ask its owner for a new one",
        details=complaint(stderr),
    )


# --- reading certificates and keys -------------------------------------------------------


def certificate_info(path=None, *, data=None, what=None):
    """Everything printout reads from one certificate: a file, or PEM bytes given as `data`."""
    what = what or (f"the certificate {path}" if path else "the certificate")
    source = ["-in", path] if path else []
    out = run(["x509", *source, "-noout", *CERTIFICATE_FIELDS], f"read {what}", stdin=data)
    return printout.parse_certificate(out, what)


def public_key_of_key(path=None, *, data=None, passphrase_file=None, what=None):
    """The public key (PEM) of a private key file, or of PEM bytes given as `data`."""
    source = ["-in", path] if path else []
    return run(
        ["pkey", *source, *passin_args(passphrase_file), "-pubout"],
        f"read {what or ('the private key ' + path if path else 'the private key')}",
        stdin=data,
    )


def verify_chain(cert_path, ca_cert, *, data=None, ca_info=None):
    """True when the certificate (a file, or PEM bytes as `data`) chains to ca_cert for client
    authentication, as kube-apiserver checks it: the CA file's certificates are trust anchors
    even when one is an intermediate. None when this openssl cannot tell: LibreSSL has no
    -partial_chain, which an intermediate CA needs."""
    partial = ["-partial_chain"]
    if not flavour().has_partial_chain:
        if not (
            ca_info or certificate_info(ca_cert, what=f"the CA certificate {ca_cert}")
        ).self_issued:
            return None
        partial = []
    source = [cert_path] if cert_path else []
    done = attempt(
        ["verify", *partial, "-purpose", "sslclient", "-CAfile", ca_cert, *source], stdin=data
    )
    return done.ok and done.out.rstrip().endswith(": OK")
