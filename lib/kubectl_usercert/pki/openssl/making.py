"""Making keys, requests and certificates with openssl."""

import os
import re
import shutil

from ...errors import UsercertError
from ...store.files import read_bytes, write_private, write_public
from ..keys import EC_CURVES, KeySpec
from . import printout
from .runner import attempt, complaint, hint_for, passin_args, require_key_support, run, start


def _key_args(spec):
    """The command that prints a new private key (PEM) on stdout: RSA through genrsa (the blog script
    this tool started from used it, and every supported openssl has it); EC keys with a named curve
    (LibreSSL otherwise writes explicit parameters, which Go refuses)."""
    if spec.type == "rsa":
        return ["genrsa", str(spec.bits)]
    if spec.type == "ecdsa":
        return [
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            f"ec_paramgen_curve:{EC_CURVES[spec.bits]}",
            "-pkeyopt",
            "ec_param_enc:named_curve",
        ]
    return ["genpkey", "-algorithm", "ed25519"]


class PendingKey:
    """A private key openssl is making in the background: key generation is the slow step (RSA), so it
    starts first and the rest of the work (imports, checks, the CA) runs meanwhile. The key comes
    back through a pipe, into this process's memory only, and is written into the private staging
    folder by whoever takes it. Leaving the `with` block without taking it stops openssl."""

    def __init__(self, spec):
        require_key_support(spec)
        self.spec = spec
        self._openssl = start(_key_args(spec))

    def result(self):
        """The key (PEM bytes), once openssl is done (a signal meanwhile stops openssl, and is raised)."""
        done = self._openssl.wait()
        if not done.ok or b"PRIVATE KEY-----" not in done.stdout:
            raise UsercertError(
                f"openssl could not generate a {self.spec.describe()} key",
                details=complaint(done.err),
            )
        return done.stdout

    def cancel(self):
        self._openssl.stop()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.cancel()


def generate_key(spec):
    """A new private key (PEM bytes), made now."""
    with PendingKey(spec) as pending:
        return pending.result()


def make_ca(cert_path, key_path, common_name, days):
    """A self-signed CA (for `demo`): an ECDSA P-256 key, CA:TRUE, keyCertSign, a key identifier."""
    write_private(key_path, generate_key(KeySpec("ecdsa")))
    run(
        [
            "req",
            "-x509",
            "-new",
            "-key",
            key_path,
            "-subj",
            "/CN=" + common_name,
            "-days",
            str(days),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "subjectKeyIdentifier=hash",
            "-out",
            cert_path,
        ],
        "create the CA certificate",
    )


def make_csr(key_path, subject, csr_path):
    """Write a CSR for the key; return the key's public key (PEM), from the same run."""
    out = run(
        ["req", "-new", "-utf8", "-key", key_path, "-subj", subject.openssl_subj(), "-pubkey"],
        "create the certificate signing request",
    )
    request = re.search(
        r"-----BEGIN CERTIFICATE REQUEST-----.*?-----END CERTIFICATE REQUEST-----\n?", out, re.S
    )
    if request is None:
        raise UsercertError(
            "openssl printed no certificate signing request",
            hint="report this with `openssl version`",
        )
    write_private(csr_path, request.group(0))
    return printout.split_public_key(out)


def request_for_key(key_pem, subject):
    """A CSR (PEM bytes) for a key held in memory (a dry run's throwaway key): the key goes to openssl on
    stdin and is never written anywhere."""
    return request_and_public_key(key_pem, subject)[0]


def request_and_public_key(key_pem, subject):
    """(a CSR as PEM bytes, the key's public key as PEM) for a key held in memory, from one openssl
    run: the key goes in on stdin and is never written anywhere by openssl."""
    out = run(
        ["req", "-new", "-utf8", "-key", "/dev/stdin", "-subj", subject.openssl_subj(), "-pubkey"],
        "create the certificate signing request",
        stdin=key_pem,
    )
    request = re.search(
        r"-----BEGIN CERTIFICATE REQUEST-----.*?-----END CERTIFICATE REQUEST-----\n?", out, re.S
    )
    if request is None:
        raise UsercertError(
            "openssl printed no certificate signing request",
            hint="report this with `openssl version`",
        )
    return request.group(0).encode("ascii"), printout.split_public_key(out)


# `openssl ca` wants a database; it lives in a private scratch folder, named relative to it (so no
# path in the config is ever parsed by openssl's config syntax), and goes when the signing is done.
# name_opt and cert_opt make it describe the certificate it signs on stderr (every supported openssl
# does, -batch or not) in the form printout reads, so one run signs and says what it signed.
_CA_CONFIG = """[ ca ]
default_ca = usercert

[ usercert ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = as_requested
unique_subject = no
email_in_dn = no
copy_extensions = none
name_opt = RFC2253,-dn_rev
cert_opt = no_header,no_version,no_signame,no_sigdump,no_aux

[ as_requested ]
"""
# What `openssl ca` says on its way, which is not a complaint.
_CA_CHATTER = re.compile(
    r"^(Using configuration from|Check that the request matches|Signature ok)", re.M
)


def sign_csr(csr_path, ca, *, not_before, not_after, serial_hex, extfile, cert_path, scratch):
    """Sign for an exact window with `openssl ca` (-startdate/-enddate: every supported openssl has
    them, where `x509 -req` counts whole days from now and cannot start earlier); -preserveDN keeps
    the request's subject as it is; openssl refuses a CA key that does not belong to the CA
    certificate. Write the certificate; return what it says, from the same run."""
    os.mkdir(scratch, 0o700)
    write_private(os.path.join(scratch, "index.txt"), "")
    write_private(
        os.path.join(scratch, "serial"),
        serial_hex.rjust(len(serial_hex) + len(serial_hex) % 2, "0") + "\n",
    )
    write_private(os.path.join(scratch, "ca.cnf"), _CA_CONFIG)
    absolute = os.path.abspath
    done = attempt(
        [
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-in",
            absolute(csr_path),
            "-cert",
            absolute(ca.cert_path),
            "-keyfile",
            absolute(ca.key_path),
            *passin_args(ca.passphrase_file and absolute(ca.passphrase_file)),
            "-startdate",
            _asn1_time(not_before),
            "-enddate",
            _asn1_time(not_after),
            "-extfile",
            absolute(extfile),
            "-notext",
            "-preserveDN",
            "-md",
            "sha256",
            "-out",
            "issued.pem",
        ],
        cwd=scratch,
    )
    if not done.ok:
        said = _CA_CHATTER.sub("", done.err)
        raise UsercertError(
            "openssl could not sign the certificate with the CA",
            details=complaint(said),
            hint=hint_for(said),
        )
    pem = read_bytes(os.path.join(scratch, "issued.pem"))
    write_public(cert_path, pem)
    shutil.rmtree(scratch)
    return printout.parse_signing_details(done.err, pem, "the new certificate")


def _asn1_time(moment):
    """UTCTime until 2049, GeneralizedTime after, as RFC 5280 has it."""
    return moment.strftime("%y%m%d%H%M%SZ" if moment.year < 2050 else "%Y%m%d%H%M%SZ")
