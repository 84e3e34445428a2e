"""The only module that runs openssl.

Every call works on OpenSSL 1.1.1, 3.0.x (3.0.2 included), 3.x and LibreSSL 3.3.6+ (a Mac's
/usr/bin/openssl): only options they all know, output read the same way whatever prints it (see
certinfo). The flavour (`openssl version`) is read once and remembered per binary, for the few
things that differ: Ed25519 and -partial_chain are not in LibreSSL 3.3.6.

Arguments are lists, never a shell string; no secret goes into argv (a CA key passphrase travels
as `-passin file:PATH`); a key or certificate held in memory (a kubeconfig's *-data) goes in on
stdin, never into a temporary file. Children get SSL_CERT_FILE/SSL_CERT_DIR pointing at nothing:
no command here needs the system's CA bundle, and loading it costs more than the work itself.
"""

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Tuple

from plumbum import local

from . import certinfo, usercache
from .errors import InvalidInput, ToolMissing, UsercertError
from .files import write_private, write_public

OPENSSL_ENV = "USERCERT_OPENSSL"
SUPPORTED = "OpenSSL 1.1.1 or newer, or LibreSSL 3.3.6 or newer"
_MINIMUM = {"OpenSSL": (1, 1, 1), "LibreSSL": (3, 3, 6)}
_NO_SYSTEM_CAS = {"SSL_CERT_FILE": os.devnull, "SSL_CERT_DIR": os.path.join(os.devnull, "none")}
# One x509 run prints everything certinfo.parse_certificate reads, in this order.
CERTIFICATE_FIELDS = ("-nameopt", "RFC2253,-dn_rev", "-subject", "-issuer", "-serial", "-startdate", "-enddate",
                      "-fingerprint", "-sha256", "-pubkey", "-text", "-certopt",
                      "no_header,no_version,no_serial,no_signame,no_validity,no_subject,no_issuer,no_sigdump,no_aux")
_REQUEST_FIELDS = ("-verify", "-nameopt", "RFC2253,-dn_rev,show_type", "-subject", "-pubkey", "-text", "-reqopt",
                   "no_header,no_version,no_subject,no_extensions,no_sigdump,no_attributes")


def _binary():
    """openssl as USERCERT_OPENSSL names it, else the first on PATH (looked up now, not at import)."""
    named = os.environ.get(OPENSSL_ENV)
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise ToolMissing(f"{OPENSSL_ENV} names {named}, which is not an executable file",
                              hint=f"point {OPENSSL_ENV} at an openssl binary, or unset it")
        return _command(named)
    path = shutil.which("openssl")
    if not path:
        raise ToolMissing("openssl was not found on PATH",
                          hint=f"install {SUPPORTED} (apt-get install openssl, brew install openssl@3)")
    return _command(path)


@functools.lru_cache(maxsize=None)
def _command(path):
    return local[path]


def _openssl():
    """openssl, checked once per run to be a supported one before its first use."""
    command = _binary()
    flavour()
    return command


def run(args, what, stdin=None):
    """Run openssl with `args` (and `stdin` bytes, else a closed stdin); return its stdout.

    `what` says what failed, in the user's terms; openssl's own complaint comes with it.
    """
    code, out, err = _run(args, stdin)
    if code != 0:
        raise UsercertError(f"openssl could not {what}", details=complaint(err), hint=_hint_for(err))
    return out


def _run(args, stdin=None):
    """(exit code, stdout, stderr). Data for stdin goes through a pipe: plumbum's `<<` would park
    it in a temporary file, and it may be a private key."""
    process = _openssl()[list(args)].popen(stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment(),
                                           cwd=os.getcwd())
    try:
        out, err = process.communicate(stdin)
    except BaseException:  # interrupted: stop openssl too, so it writes nothing after the cleanup
        process.kill()
        process.wait()
        raise
    return process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _environment():
    # os.environ as it is now (plumbum's own copy is taken at import), without the system CA bundle.
    return {**os.environ, **_NO_SYSTEM_CAS}


def complaint(stderr):
    """The lines of openssl's stderr that say what was wrong: error-stack lines shortened to their
    reason, and no usage text (an unknown option makes openssl print its whole usage)."""
    said = []
    for line in (stderr or "").splitlines():
        stripped = line.strip()
        if re.match(r"(?i)usage:", stripped) or stripped.startswith(("Valid options", "General options")):
            break
        error = re.match(r"[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):", stripped)
        shown = error.group(1) if error else stripped
        if shown and not stripped.startswith("-") and shown not in said:
            said.append(shown)
    return "\n".join(said[:3]) or None


def _hint_for(stderr):
    if not re.search(r"unknown option|unknown command|invalid command|[Aa]lgorithm .* not found", stderr or ""):
        return None
    try:
        found = flavour().text
    except UsercertError:
        found = "the openssl on PATH"
    return f"{found} lacks something this tool needs; use {SUPPORTED}"


# --- which openssl ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Flavour:
    name: str  # OpenSSL or LibreSSL
    version: Tuple[int, ...]
    text: str  # as `openssl version` says it, and where it is

    @property
    def is_libressl(self):
        return self.name == "LibreSSL"

    @property
    def has_ed25519(self):
        return not self.is_libressl or self.version >= (3, 7, 0)

    @property
    def has_partial_chain(self):
        return not self.is_libressl


def flavour():
    """Which openssl is on PATH, checked to be one this tool supports."""
    return _flavour(str(_binary().executable))


@functools.lru_cache(maxsize=None)
def _flavour(executable):
    said = usercache.remembered("openssl-version", executable) or _version_text()
    match = re.match(r"(OpenSSL|LibreSSL) (\d+)\.(\d+)\.(\d+)", said)
    shown = f"{said.split('(')[0].strip()} at {executable}"
    if not match:
        raise ToolMissing(f"{executable} is not a supported openssl ({said.strip()[:60]!r})",
                          hint=f"put {SUPPORTED} first on PATH")
    found = Flavour(match.group(1), tuple(int(part) for part in match.groups()[1:]), shown)
    if found.version < _MINIMUM[found.name]:
        raise ToolMissing(f"{shown} is too old", hint=f"put {SUPPORTED} first on PATH")
    usercache.remember("openssl-version", executable, said)
    return found


def _version_text():
    code, out, err = _binary()["version"].run(retcode=None, stdin=subprocess.DEVNULL, env=_environment())
    return out.strip() if code == 0 else (err.strip() or "no answer to `openssl version`")


def require_key_support(spec):
    """Refuse up front an unsupported openssl, or a key it cannot make, rather than half way."""
    if not flavour().has_ed25519 and spec.type == "ed25519":
        raise InvalidInput(f"{flavour().text} cannot make Ed25519 keys",
                           hint=f"use --key-type ecdsa, or OpenSSL 3: put it first on PATH or name it in {OPENSSL_ENV} "
                                "(macOS: brew install openssl@3)")


# --- keys and requests -------------------------------------------------------------------


def _key_args(spec, path):
    if spec.type == "rsa":
        return ["genrsa", "-out", path, str(spec.bits)]
    if spec.type == "ecdsa":
        from .keys import EC_CURVES
        # Named curve: LibreSSL otherwise writes explicit parameters, which Go refuses.
        return ["genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{EC_CURVES[spec.bits]}",
                "-pkeyopt", "ec_param_enc:named_curve", "-out", path]
    return ["genpkey", "-algorithm", "ed25519", "-out", path]


def generate_key(path, spec):
    """Write a new private key (PEM). RSA through genrsa, as the original script did."""
    require_key_support(spec)
    run(_key_args(spec, path), f"generate a {spec.describe()} key")


def make_ca(cert_path, key_path, common_name, days):
    """A self-signed CA (for `demo`): an ECDSA P-256 key, CA:TRUE, keyCertSign, a key identifier."""
    from .keys import KeySpec
    generate_key(key_path, KeySpec("ecdsa"))
    run(["req", "-x509", "-new", "-key", key_path, "-subj", "/CN=" + common_name, "-days", str(days),
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-addext", "subjectKeyIdentifier=hash", "-out", cert_path], "create the CA certificate")


def make_csr(key_path, subject, csr_path):
    """Write a CSR for the key; return the key's public key (PEM), from the same run."""
    out = run(["req", "-new", "-utf8", "-key", key_path, "-subj", subject.openssl_subj(), "-pubkey"],
              "create the certificate signing request")
    request = re.search(r"-----BEGIN CERTIFICATE REQUEST-----.*?-----END CERTIFICATE REQUEST-----\n?", out, re.S)
    if request is None:
        raise UsercertError("openssl printed no certificate signing request", hint="report this with `openssl version`")
    write_private(csr_path, request.group(0))
    return certinfo.split_public_key(out)


def sign_csr(csr_path, ca, *, days, serial_hex, extfile, cert_path):
    """Sign with the CA (openssl checks that the CA key belongs to the CA certificate); write the
    certificate and return what it says, read from the same run."""
    out = run(["x509", "-req", "-sha256", "-in", csr_path, "-CA", ca.cert_path, "-CAkey", ca.key_path,
               *passin_args(ca.passphrase_file), "-set_serial", f"0x{serial_hex}", "-days", str(days),
               "-extfile", extfile, *CERTIFICATE_FIELDS], "sign the certificate with the CA")
    description, pem = certinfo.split_certificate(out)
    write_public(cert_path, pem)
    return certinfo.parse_certificate(description, "the new certificate")


def passin_args(passphrase_file):
    # An empty passphrase keeps openssl from prompting on the terminal for an encrypted key.
    return ["-passin", f"file:{passphrase_file}" if passphrase_file else "pass:"]


def request_info(csr_path, der=False, shown=None):
    """What a CSR asks for, after checking its self-signature (proof that its maker holds the key).
    `shown` names the request in messages (the user's file, not a private copy of it)."""
    shown = shown or csr_path
    form = ["-inform", "DER"] if der else []
    code, out, err = _run(["req", "-in", csr_path, *form, *_REQUEST_FIELDS])
    if code != 0:
        if re.search(r"verify fail|signature", err, re.I):
            raise _bad_signature(shown, err)
        raise InvalidInput(f"openssl could not read the certificate signing request {shown}",
                           hint="give a PEM or DER certificate signing request (openssl req -new)",
                           details=complaint(err))
    # openssl 3.0 exits 0 even when the signature does not verify: read what it says.
    if "verify OK" not in out + err:
        raise _bad_signature(shown, err)
    return certinfo.parse_request(out, shown)


def _bad_signature(csr_path, stderr):
    return UsercertError(f"the signature of the request {csr_path} does not verify",
                         hint="the request was damaged or altered; ask its owner for a new one",
                         details=complaint(stderr))


# --- reading certificates and keys -------------------------------------------------------


def certificate_info(path=None, *, data=None, what=None):
    """Everything certinfo reads from one certificate: a file, or PEM bytes given as `data`."""
    what = what or (f"the certificate {path}" if path else "the certificate")
    source = ["-in", path] if path else []
    out = run(["x509", *source, "-noout", *CERTIFICATE_FIELDS], f"read {what}", stdin=data)
    return certinfo.parse_certificate(out, what)


def public_key_of_key(path=None, *, data=None, passphrase_file=None, what=None):
    """The public key (PEM) of a private key file, or of PEM bytes given as `data`."""
    source = ["-in", path] if path else []
    return run(["pkey", *source, *passin_args(passphrase_file), "-pubout"],
               f"read {what or ('the private key ' + path if path else 'the private key')}", stdin=data)


def verify_chain(cert_path, ca_cert, *, data=None, ca_info=None):
    """True when the certificate (a file, or PEM bytes as `data`) chains to ca_cert for client
    authentication, as kube-apiserver checks it: the CA file's certificates are trust anchors
    even when one is an intermediate. None when this openssl cannot tell: LibreSSL has no
    -partial_chain, which an intermediate CA needs."""
    partial = ["-partial_chain"]
    if not flavour().has_partial_chain:
        if not (ca_info or certificate_info(ca_cert, what=f"the CA certificate {ca_cert}")).self_issued:
            return None
        partial = []
    source = [cert_path] if cert_path else []
    code, out, _ = _run(["verify", *partial, "-purpose", "sslclient", "-CAfile", ca_cert, *source], data)
    return code == 0 and out.rstrip().endswith(": OK")
