"""The only module that runs openssl.

Every call works on OpenSSL 1.1.1, 3.0.x (3.0.2 included), 3.x and LibreSSL 3.3.6+ (a Mac's
/usr/bin/openssl): only options they all know, output read the same way whatever prints it (see
printout). The flavour (`openssl version`) is read once and remembered per binary, for the few
things that differ: Ed25519 and -partial_chain are not in LibreSSL 3.3.6.

Arguments are lists, never a shell string; no secret goes into argv (a CA key passphrase travels
as `-passin file:PATH`); a key or certificate held in memory (a kubeconfig's *-data) goes in on
stdin, never into a temporary file. Children get SSL_CERT_FILE/SSL_CERT_DIR pointing at nothing:
no command here needs the system's CA bundle, and loading it costs more than the work itself.

The package: runner (which openssl, running it, its complaints), reading (certificates, requests,
keys: one run each), making (keys, requests, certificates).
"""

from .making import (
    PendingKey,
    generate_key,
    make_ca,
    make_csr,
    request_and_public_key,
    request_for_key,
    sign_csr,
)
from .reading import certificate_info, public_key_of_key, request_info, verify_chain
from .runner import (
    OPENSSL_ENV,
    SUPPORTED,
    Flavour,
    complaint,
    flavour,
    passin_args,
    require_key_support,
    run,
)

__all__ = [
    "PendingKey",
    "generate_key",
    "make_ca",
    "make_csr",
    "request_and_public_key",
    "request_for_key",
    "sign_csr",
    "certificate_info",
    "public_key_of_key",
    "request_info",
    "verify_chain",
    "OPENSSL_ENV",
    "SUPPORTED",
    "Flavour",
    "complaint",
    "flavour",
    "passin_args",
    "require_key_support",
    "run",
]
