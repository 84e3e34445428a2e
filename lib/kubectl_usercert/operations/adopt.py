"""Adoption: recording a credential that a killed run left in its folder without its ledger line.

Only a SIGKILL between a folder's move into place and its ledger line leaves one (the two are one
step otherwise: files.Stage.commit). Whichever command meets such a folder first (create, sign,
renew, apply, revoke, prune) records it as `adopted` before it acts, so a certificate that stays
valid for its whole life is never missing from the ledger (`whois` finds it).

Adoption must not launder a certificate put into the folder by hand into a record, so it adopts
only what this tool could have issued: a certificate for the folder's user, not self-signed and
not a CA, for client authentication, for the key in the folder, chaining to the signing CA when
one is known here, and, for a revoked user, issued after the revocation. Anything else is evidence
of a hand, not a record: reported, never recorded.
"""

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from ..errors import InvalidInput, UsercertError
from ..pki import openssl
from ..pki.certificate import BACKDATE, pem_fingerprint, plain_hex
from ..store import ledger
from ..store.files import read_input
from ..store.ledger import LedgerEntry, lifetime_of_window
from ..times import duration_text


@dataclass(frozen=True, eq=False, repr=False)
class Adoption:
    entry: Optional[LedgerEntry] = None  # the `adopted` line written, if one was
    refused: Optional[str] = None  # why a certificate the ledger does not know was not adopted


def adopt(out_dir, user, user_files, ca_cert=None, info=None):
    """Adopt the certificate in user_files when the ledger does not know it and this tool could have
    issued it (checked against the CA certificate file `ca_cert`, when one is known here). `info`:
    the certificate as already read. An Adoption: what was written, or why nothing was."""
    if not os.path.isfile(user_files.cert):
        return Adoption()
    fingerprint = _fingerprint_of_file(user_files.cert)
    # One streaming pass keeps only what is needed: the user's history, and any record of this file.
    entries = ledger.read(
        out_dir, keep=lambda entry: entry.user == user or entry.fingerprint_hex == fingerprint
    ).entries
    known = {entry.fingerprint_hex for entry in entries}
    if fingerprint in known:  # the common case, told without starting openssl
        return Adoption()
    if info is None:
        try:
            info = openssl.certificate_info(user_files.cert)
        except UsercertError as exc:
            return Adoption(refused=f"it cannot be read ({exc.message})")
    if info.fingerprint_hex in known or (
        fingerprint is None and ledger.knows(out_dir, info.fingerprint_sha256)
    ):
        return Adoption()
    mine = [entry for entry in entries if entry.user == user]
    problem = _not_issued_here(user, user_files, info, ca_cert, mine[-1] if mine else None)
    if problem:
        return Adoption(refused=problem)
    lifetime = lifetime_of_window(info.not_before, info.not_after)
    return Adoption(
        ledger.append(
            out_dir,
            LedgerEntry.of_certificate(
                "adopted",
                user,
                info,
                path=user_files.directory,
                lifetime=duration_text(lifetime) if lifetime else None,
            ),
        )
    )


def _fingerprint_of_file(path):
    try:
        return plain_hex(
            pem_fingerprint(read_input(path, "the certificate", "check the user's folder"))
        )
    except (InvalidInput, ValueError):
        return None


def _not_issued_here(user, user_files, info, ca_cert, latest):
    """Why this tool could not have issued the certificate; None when it could have."""
    if info.common_name != user:
        return f"it is a certificate for {info.common_name!r}, not {user!r}"
    if info.self_issued or info.is_ca or not info.allows_client_auth:
        return "it is not a client certificate a CA issued (self-signed, a CA, or not for client authentication)"
    has_key = os.path.isfile(user_files.key)
    if has_key:
        try:
            matches = openssl.public_key_of_key(user_files.key) == info.public_key
        except UsercertError:
            matches = False
        if not matches:
            return f"it is not for the key {user_files.key}"
    chained = openssl.verify_chain(user_files.cert, ca_cert) if ca_cert else None
    if chained is False:
        return f"it does not chain to the CA {ca_cert}"
    if chained is None and not has_key:
        return "there is no key in the folder to match it, and no CA here to check it against"
    if (
        latest is not None
        and latest.event == "revoked"
        and latest.time is not None
        and info.not_before + BACKDATE < latest.time - timedelta(seconds=1)
    ):
        return f"it was issued before {user!r} was revoked ({latest.time:%Y-%m-%d %H:%M}Z)"
    return None


def ca_known_here(options=None, recorded=None):
    """The CA certificate file a certificate signed with `options` (SignerOptions; None: the
    defaults) must chain to, when one is known here: the one given, else the one the ledger recorded
    (`recorded`, if its file is still there), else (not with --signer csr) the one the local signer
    would find; None when none is."""
    if options is not None and options.ca_cert:
        return options.ca_cert
    if recorded is not None and recorded.ca_cert and os.path.isfile(recorded.ca_cert):
        return recorded.ca_cert
    if options is not None and options.kind == "csr":
        return None
    from ..pki.signers.local import locate_ca

    try:
        located = locate_ca()
    except InvalidInput:  # half a CA in the environment: no CA known here
        return None
    return located[0] if located else None
