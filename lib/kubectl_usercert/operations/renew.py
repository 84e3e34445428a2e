"""`renew` (and apply's renewals): a new certificate for an existing user, same key unless --rekey,
signed as before, for as long as before.

The ledger's newest record of the user is the truth about them; the folder is evidence checked
against it. Renew takes the groups (unless -g), the lifetime (unless --days/--expiration) and the
way of signing (unless signer flags: the same CA files, or the CSR API, approved by this tool again
if it approved it) from the ledger, never from a file: it renews only the certificate that record
names (one put back by hand, an older one say, is refused), never a revoked user's, and a
certificate a killed run left unrecorded is adopted first (see adopt.py), if this tool could have
issued it. The folder is copied into a private staging folder, changed there (new certificate,
the previous one kept as USER.<serial>.crt, kubeconfig updated) and swapped into place with the
ledger line, under the user's lock.
"""

import os
import shlex
import shutil
from dataclasses import replace
from datetime import timedelta

from ..cluster import user_kubeconfig
from ..errors import InvalidInput
from ..output.results import Renewal
from ..pki import openssl
from ..pki.keys import key_spec, spec_of
from ..pki.signers.chooser import choose_signer
from ..store import files, ledger, locks
from ..times import duration_text
from .adopt import adopt, ca_known_here
from .issue import checked_subject, describe, key_signed, ledger_entry, new_key_signed


def _silent(_message):
    pass


def renew_user(
    *,
    user,
    out_dir,
    signing,
    groups=None,
    lifetime=None,
    rekey=False,
    key_type=None,
    key_size=None,
    allow_system_masters=False,
    signer_given=False,
    signer=None,
    rehearse=False,
    self_renew=None,
    progress=_silent,
):
    """A new certificate for `user` of `out_dir`, in place; a Renewal. `groups` and `lifetime` (None:
    as the ledger last recorded them) and `rekey` (a new key, of `key_type`/`key_size`, else the
    current key's) as renew's flags say; `signing` (SignerOptions) and `signer_given` (the command
    line named a signer: do not sign as before). `signer`: one the caller chose (apply, which reads
    the CA once). `rehearse` (apply --dry-run): every check, then (signer, subject, key spec,
    validity), nothing changed. `self_renew`: whether the new record grants the right to self-renew
    (None: as the user's newest record does)."""
    with locks.user_operation(out_dir, user, progress, dry_run=rehearse) as user_files:
        history = ledger.history(out_dir, user)
        _refuse_owner_held(history, user)
        _require_files(user_files, user, rekey)
        old = openssl.certificate_info(user_files.cert)
        kubeconfig_user = user_kubeconfig.current_user(user_files.kubeconfig)
        _check_trusted(user_files, user, old, rekey)
        signed_as = next(
            (entry for entry in reversed(history) if entry.signer), None
        )  # how the last one was
        signing = _signing(signing, signed_as, user, signer_given)
        ca_cert = signer.ca_cert_path if signer else ca_known_here(signing, signed_as)
        if (
            signing.kind == "csr"
        ):  # the client CA the cluster's certificate is checked against, when known
            signing = replace(signing, ca_cert=ca_cert)
        latest = _latest_record(out_dir, user, user_files, old, history, ca_cert)
        subject, warnings = checked_subject(
            user,
            latest.groups if groups is None else groups,
            allow_system_masters=allow_system_masters,
        )
        current = spec_of(old.key_type, old.key_bits)
        spec = key_spec(key_type or current.type, key_size) if rekey else current
        openssl.require_key_support(spec)
        signer = signer or choose_signer(signing, subject, progress)
        _check_same_ca(signed_as, signer, user, signer_given)
        asked = lifetime or latest.asked_lifetime() or timedelta(days=365)
        progress(
            f"Renewing for {duration_text(asked)}"
            + (
                ""
                if lifetime
                else ", the lifetime it was issued with (--days or --expiration changes it)"
            )
        )
        validity = signer.grant(asked)
        if rehearse:
            return signer, subject, spec, validity
        with files.staged_dir(user_files.directory, force=True) as stage:
            staged = user_files.inside(stage.path)
            _copy_folder(user_files.directory, stage.path)
            os.rename(staged.cert, staged.archived_cert(old.serial))
            signing_step = new_key_signed if rekey else key_signed
            if rekey and os.path.lexists(staged.key):
                os.unlink(staged.key)
            info = signing_step(
                staged,
                subject=subject,
                key=spec,
                signer=signer,
                validity=validity,
                progress=progress,
            )
            _update_kubeconfig(staged, kubeconfig_user.user, rekey)
            signer.confirm(staged.kubeconfig, subject)
            credential = describe(
                subject,
                info,
                user_files,
                cluster=kubeconfig_user.cluster or "",
                server=kubeconfig_user.server or "",
                namespace=kubeconfig_user.namespace,
                signer=signer,
                warnings=warnings,
                lifetime=asked,
                admin_context=latest.context,
            )
            keeps_right = history[-1].self_renew if self_renew is None and history else self_renew
            entry = ledger_entry(
                "renewed",
                credential,
                signer,
                previous_serial=old.serial,
                **({"self_renew": True} if keeps_right else {}),
            )
            stage.commit(
                record=lambda: ledger.append(out_dir, entry), done=f"renewed {user_files.directory}"
            )
    return Renewal(credential, user_files.archived_cert(old.serial), old.serial)


def _refuse_owner_held(history, user):
    """A certificate signed from its owner's request (sign --csr) is for a key that never came here:
    only its owner can renew it (renew --self), or a new request is signed."""
    latest = history[-1] if history else None
    if latest is not None and latest.event != "revoked" and latest.key_held_by == "owner":
        raise InvalidInput(
            f"the key of {user!r} is held by its owner (signed from their request): only they can "
            "renew it, with `kubectl usercert renew --self` on their machine",
            hint="or sign a new request of theirs: kubectl usercert sign --csr FILE --user "
            f"{shlex.quote(user)} --force (they make it with `kubectl usercert request`)",
        )


def _require_files(user_files, user, rekey):
    needed = [user_files.cert, user_files.kubeconfig] + ([] if rekey else [user_files.key])
    missing = [os.path.basename(path) for path in needed if not os.path.isfile(path)]
    if missing:
        hint = "renew needs the folder 'create' wrote" + (
            "" if rekey else "; --rekey makes a new key if only that is gone"
        )
        raise InvalidInput(
            f"cannot renew {user!r}: {', '.join(missing)} missing in {user_files.directory}",
            hint=hint,
        )


def _latest_record(out_dir, user, user_files, old, history, ca_cert):
    """The user's newest ledger record, which must be of the certificate in the folder (adopted
    first when a killed run left it unrecorded) and not a revocation."""
    adopted = adopt(out_dir, user, user_files, ca_cert, info=old)
    if adopted.refused:
        raise InvalidInput(
            f"{user_files.cert} is not in the ledger, and this tool could not have issued it: "
            f"{adopted.refused}",
            hint="renew only renews what this tool issued; re-create the user with create --force",
        )
    history = history + ([adopted.entry] if adopted.entry else [])
    latest = history[-1] if history else None
    if latest is not None and latest.event == "revoked":
        when = f" on {latest.time:%Y-%m-%d %H:%M}Z" if latest.time else ""
        raise InvalidInput(
            f"{user!r} was revoked{when}: renew never renews a revoked user; "
            f"'kubectl usercert create {user}' issues anew",
            hint="files put back after a revocation are not a credential; create --force "
            "replaces them",
        )
    if latest is None or latest.fingerprint_hex != old.fingerprint_hex:
        newest = (
            f" (that is serial {latest.serial}, {latest.event} {latest.time:%Y-%m-%d %H:%M}Z)"
            if latest is not None and latest.time
            else ""
        )
        raise InvalidInput(
            f"{user_files.cert} is not the latest certificate issued to {user!r}{newest}",
            hint="the folder was changed by hand: put the latest certificate back, or re-create "
            "the user with create --force",
        )
    return latest


def _check_trusted(user_files, user, old, rekey):
    """The certificate in the folder must be this user's and this key's."""
    if old.common_name != user:
        raise InvalidInput(
            f"{user_files.cert} is a certificate for {old.common_name!r}, not {user!r}",
            hint="renew only renews what 'create' wrote there; re-create the user with create --force",
        )
    if (
        os.path.isfile(user_files.key)
        and not rekey
        and openssl.public_key_of_key(user_files.key) != old.public_key
    ):
        raise InvalidInput(
            f"{user_files.cert} is not for the key {user_files.key}",
            hint="the folder was changed by hand; renew --rekey, or re-create the user with --force",
        )


def _signing(signing, recorded, user, signer_given):
    """Sign as the ledger says the certificate was signed, unless the command line says otherwise; a
    request this tool approved (--approve) is approved again."""
    if recorded is not None and recorded.approval == "self":
        signing = replace(signing, approve=True)
    if signer_given or recorded is None or recorded.signer is None:
        return signing
    if recorded.signer == "csr":
        return replace(signing, kind="csr")
    if recorded.ca_cert and recorded.ca_key:
        gone = [path for path in (recorded.ca_cert, recorded.ca_key) if not os.path.isfile(path)]
        if gone:
            raise InvalidInput(
                f"the CA that issued {user!r} is gone: {' and '.join(gone)} not found",
                hint="give the CA with --ca-cert and --ca-key (or --signer csr)",
            )
        return replace(signing, kind="local", ca_cert=recorded.ca_cert, ca_key=recorded.ca_key)
    return replace(signing, kind="local")


def _check_same_ca(recorded, signer, user, signer_given):
    """The CA must be the one the ledger says signed the last certificate, unless the command line
    named another on purpose."""
    if (
        recorded is not None
        and recorded.ca_fingerprint_sha256
        and signer.ca_fingerprint
        and not signer_given
        and recorded.ca_fingerprint_sha256 != signer.ca_fingerprint
    ):
        raise InvalidInput(
            f"the CA found is not the one that issued {user!r} "
            f"(fingerprint {recorded.ca_fingerprint_sha256[:23]}...)",
            hint="give the CA that issued it with --ca-cert/--ca-key, or another one on purpose",
        )


def _copy_folder(source, target):
    for name in os.listdir(source):
        path = os.path.join(source, name)
        if os.path.isfile(path) and not os.path.islink(path):
            shutil.copy2(path, os.path.join(target, name))


def _update_kubeconfig(staged, user, rekey):
    key_pem = files.read_bytes(staged.key) if rekey else None
    config = user_kubeconfig.replace_credentials(
        staged.kubeconfig, user, files.read_bytes(staged.cert), key_pem
    )
    os.unlink(staged.kubeconfig)
    files.write_private(staged.kubeconfig, user_kubeconfig.dump(config))
