"""`renew` (and apply's renewals): a new certificate for an existing user, same key unless --rekey,
signed as before, for as long as before.

The ledger's newest record of the user is the truth about them; the folder is evidence checked
against it. Renew takes the groups (unless -g), the lifetime (unless --days/--expiration) and the
way of signing (unless signer flags: the same CA files, or the CSR API, approved by this tool again
if it approved it) from the ledger, never from a file: it renews only the certificate that record
names (one put back by hand, an older one say, is refused), never a revoked user's, and a
certificate a killed run left unrecorded is adopted first (see adoption), if this tool could have
issued it. The folder is copied into a private staging folder, changed there (new certificate,
the previous one kept as USER.<serial>.crt, kubeconfig updated) and swapped into place with the
ledger line, under the user's lock.
"""

import os
import shutil
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Optional, Tuple

from ..cluster import user_kubeconfig
from ..errors import InvalidInput
from ..output.results import Renewal
from ..pki import openssl
from ..pki.keys import key_spec, spec_of
from ..pki.signers import SignerOptions
from ..pki.signers.chooser import choose_signer
from ..pki.subject import make_subject, subject_warnings
from ..store import files, ledger
from ..times import duration_text
from . import adopt, issue


@dataclass(frozen=True, eq=False, repr=False)
class RenewRequest:
    user: str
    out_dir: str = "clients"
    groups: Optional[Tuple[str, ...]] = None  # None: the groups of the ledger's latest record of the user
    validity: Optional[timedelta] = None  # None: the lifetime it was issued with, as the ledger recorded it
    rekey: bool = False
    key_type: Optional[str] = None  # with --rekey; default: the current key's type
    key_size: Optional[int] = None
    allow_system_masters: bool = False
    signing: SignerOptions = field(default_factory=SignerOptions)
    signer_given: bool = False  # --signer/--ca-cert/--ca-key on the command line: do not sign as before
    signer: Optional[object] = None  # a Signer chosen by the caller (apply, which reads the CA once)
    rehearse: bool = False  # apply --dry-run: every check, then (signer, subject, key spec, validity), nothing changed


def renew(request, progress=lambda _message: None):
    with issue.user_operation(request.out_dir, request.user, progress, dry_run=request.rehearse) as user_files:
        _require_files(user_files, request)
        old = openssl.certificate_info(user_files.cert)
        kubeconfig_user = user_kubeconfig.current_user(user_files.kubeconfig)
        _check_trusted(request, user_files, old)
        history = ledger.history(request.out_dir, request.user)
        signed_as = next((entry for entry in reversed(history) if entry.signer), None)  # how the last one was
        signing = _signing(request, signed_as)
        ca_cert = request.signer.ca_cert_path if request.signer else adopt.ca_known_here(signing, signed_as)
        if signing.kind == "csr":  # the client CA the cluster's certificate is checked against, when known
            signing = replace(signing, ca_cert=ca_cert)
        latest = _latest_record(request, user_files, old, history, ca_cert)
        subject = make_subject(request.user, latest.groups if request.groups is None else request.groups)
        warnings = subject_warnings(subject, request.allow_system_masters)
        current = spec_of(old.key_type, old.key_bits)
        spec = key_spec(request.key_type or current.type, request.key_size) if request.rekey else current
        openssl.require_key_support(spec)
        signer = request.signer or choose_signer(signing, subject, progress)
        _check_same_ca(request, signed_as, signer)
        lifetime = request.validity or latest.asked_lifetime() or timedelta(days=365)
        progress(f"Renewing for {duration_text(lifetime)}" +
                 ("" if request.validity else ", the lifetime it was issued with (--days or --expiration changes it)"))
        validity = signer.grant(lifetime)
        if request.rehearse:
            return signer, subject, spec, validity
        with files.staged_dir(user_files.directory, force=True) as stage:
            staged = user_files.inside(stage.path)
            _copy_folder(user_files.directory, stage.path)
            os.rename(staged.cert, staged.archived_cert(old.serial))
            if request.rekey:
                if os.path.lexists(staged.key):
                    os.unlink(staged.key)
                info = issue.new_key_signed(staged, subject, spec, signer, validity, progress)
            else:
                info = issue.key_signed(staged, subject, spec, signer, validity, progress)
            _update_kubeconfig(staged, kubeconfig_user.user, request.rekey)
            signer.confirm(staged.kubeconfig, subject)
            credential = issue.describe(subject, info, user_files, cluster=kubeconfig_user.cluster or "",
                                        server=kubeconfig_user.server or "", namespace=kubeconfig_user.namespace,
                                        signer=signer, warnings=warnings, lifetime=lifetime)
            entry = issue.ledger_entry("renewed", credential, signer, previous_serial=old.serial)
            stage.commit(record=lambda: ledger.append(request.out_dir, entry),
                         done=f"renewed {user_files.directory}")
    return Renewal(credential, user_files.archived_cert(old.serial), old.serial)


def _require_files(user_files, request):
    needed = [user_files.cert, user_files.kubeconfig] + ([] if request.rekey else [user_files.key])
    missing = [os.path.basename(path) for path in needed if not os.path.isfile(path)]
    if missing:
        hint = "renew needs the folder 'create' wrote" + ("" if request.rekey else
                                                           "; --rekey makes a new key if only that is gone")
        raise InvalidInput(f"cannot renew {request.user!r}: {', '.join(missing)} missing in {user_files.directory}",
                           hint=hint)


def _latest_record(request, user_files, old, history, ca_cert):
    """The user's newest ledger record, which must be of the certificate in the folder (adopted
    first when a killed run left it unrecorded) and not a revocation."""
    adopted = adopt.adopt(request.out_dir, request.user, user_files, ca_cert, info=old)
    if adopted.refused:
        raise InvalidInput(f"{user_files.cert} is not in the ledger, and this tool could not have issued it: "
                           f"{adopted.refused}",
                           hint="renew only renews what this tool issued; re-create the user with create --force")
    history = history + ([adopted.entry] if adopted.entry else [])
    latest = history[-1] if history else None
    if latest is not None and latest.event == "revoked":
        when = f" on {latest.time:%Y-%m-%d %H:%M}Z" if latest.time else ""
        raise InvalidInput(f"{request.user!r} was revoked{when}: renew never renews a revoked user; "
                           f"'kubectl usercert create {request.user}' issues anew",
                           hint="files put back after a revocation are not a credential; create --force "
                                "replaces them")
    if latest is None or latest.fingerprint_hex != old.fingerprint_sha256.replace(":", "").lower():
        newest = f" (that is serial {latest.serial}, {latest.event} {latest.time:%Y-%m-%d %H:%M}Z)" \
            if latest is not None and latest.time else ""
        raise InvalidInput(f"{user_files.cert} is not the latest certificate issued to {request.user!r}{newest}",
                           hint="the folder was changed by hand: put the latest certificate back, or re-create "
                                "the user with create --force")
    return latest


def _check_trusted(request, user_files, old):
    """The certificate in the folder must be this user's and this key's."""
    if old.common_name != request.user:
        raise InvalidInput(f"{user_files.cert} is a certificate for {old.common_name!r}, not {request.user!r}",
                           hint="renew only renews what 'create' wrote there; re-create the user with create --force")
    if os.path.isfile(user_files.key) and not request.rekey and \
            openssl.public_key_of_key(user_files.key) != old.public_key:
        raise InvalidInput(f"{user_files.cert} is not for the key {user_files.key}",
                           hint="the folder was changed by hand; renew --rekey, or re-create the user with --force")


def _signing(request, recorded):
    """Sign as the ledger says the certificate was signed, unless the command line says otherwise; a
    request this tool approved (--approve) is approved again."""
    signing = request.signing
    if recorded is not None and recorded.approval == "self":
        signing = replace(signing, approve=True)
    if request.signer_given or recorded is None or recorded.signer is None:
        return signing
    if recorded.signer == "csr":
        return replace(signing, kind="csr")
    if recorded.ca_cert and recorded.ca_key:
        gone = [path for path in (recorded.ca_cert, recorded.ca_key) if not os.path.isfile(path)]
        if gone:
            raise InvalidInput(f"the CA that issued {request.user!r} is gone: {' and '.join(gone)} not found",
                               hint="give the CA with --ca-cert and --ca-key (or --signer csr)")
        return replace(signing, kind="local", ca_cert=recorded.ca_cert, ca_key=recorded.ca_key)
    return replace(signing, kind="local")


def _check_same_ca(request, recorded, signer):
    """The CA must be the one the ledger says signed the last certificate, unless the command line
    named another on purpose."""
    if recorded is not None and recorded.ca_fingerprint_sha256 and signer.ca_fingerprint and \
            not request.signer_given and recorded.ca_fingerprint_sha256 != signer.ca_fingerprint:
        raise InvalidInput(f"the CA found is not the one that issued {request.user!r} "
                           f"(fingerprint {recorded.ca_fingerprint_sha256[:23]}...)",
                           hint="give the CA that issued it with --ca-cert/--ca-key, or another one on purpose")


def _copy_folder(source, target):
    for name in os.listdir(source):
        path = os.path.join(source, name)
        if os.path.isfile(path) and not os.path.islink(path):
            shutil.copy2(path, os.path.join(target, name))


def _update_kubeconfig(staged, user, rekey):
    key_pem = files.read_bytes(staged.key) if rekey else None
    config = user_kubeconfig.replace_credentials(staged.kubeconfig, user, files.read_bytes(staged.cert), key_pem)
    os.unlink(staged.kubeconfig)
    files.write_private(staged.kubeconfig, user_kubeconfig.dump(config))
