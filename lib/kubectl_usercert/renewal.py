"""`renew`: a new certificate for an existing user, same key unless --rekey.

The user's folder is copied into a private staging folder, changed there (new certificate, the
previous one kept as USER.<serial>.crt, kubeconfig updated) and swapped into place in one step.
"""

import os
import shutil
from dataclasses import dataclass, field
from typing import Optional, Tuple

from . import kubeconfig, ledger, openssl
from .errors import InvalidInput
from .issuing import IssuedCredential, check_days, effective_days, group_warnings, read_bytes, sign_and_check
from .keys import key_spec, spec_of
from .layout import UserFiles
from .signers import SignerOptions, choose_signer
from .staging import staged_dir, write_private
from .subject import make_subject

@dataclass
class RenewRequest:
    user: str
    out_dir: str = "clients"
    groups: Optional[Tuple[str, ...]] = None  # None: keep the certificate's groups
    days: int = 365
    rekey: bool = False
    key_type: Optional[str] = None  # with --rekey; default: the current key's type
    key_size: Optional[int] = None
    allow_system_masters: bool = False
    signing: SignerOptions = field(default_factory=SignerOptions)


def renew(request, progress=lambda _message: None):
    files = UserFiles.for_user(request.out_dir, request.user)
    _require_files(files, request)
    old = openssl.certificate_info(files.cert)
    subject = make_subject(old.common_name or request.user,
                           old.organizations if request.groups is None else request.groups)
    warnings = group_warnings(subject.groups, request.allow_system_masters)
    current = spec_of(old.key_type, old.key_bits)
    spec = key_spec(request.key_type or current.type, request.key_size) if request.rekey else current
    openssl.require_key_support(spec)
    check_days(request.days)
    signer = choose_signer(request.signing, subject, progress)
    days = effective_days(signer, request.days, warnings)
    credentials = kubeconfig.current_user_credentials(files.kubeconfig)
    with staged_dir(files.directory, force=True) as workdir:
        staged = files.inside(workdir)
        _copy_folder(files.directory, workdir)
        previous = files.archived_cert(old.serial)
        os.rename(staged.cert, staged.archived_cert(old.serial))
        if request.rekey:
            os.unlink(staged.key)
            progress(f"Generating {spec.describe()} key")
            openssl.generate_key(staged.key, spec)
            os.chmod(staged.key, 0o600)
        info = sign_and_check(staged, subject, spec, signer, days, progress)
        _update_kubeconfig(staged, credentials.user, request.rekey)
    warnings.extend(signer.notes)
    credential = IssuedCredential(
        user=subject.user, groups=subject.groups, serial=info.serial, not_before=info.not_before,
        not_after=info.not_after, key_type=info.key_type, key_bits=info.key_bits,
        fingerprint_sha256=info.fingerprint_sha256, directory=files.directory, kubeconfig_path=files.kubeconfig,
        cert_path=files.cert, key_path=files.key, cluster=credentials.cluster or "", server=credentials.server or "",
        context=kubeconfig.context_name(credentials.user, credentials.cluster or ""), namespace=credentials.namespace,
        signer=signer.name, ca_fingerprint_sha256=signer.ca_fingerprint, warnings=warnings)
    ledger.append(request.out_dir, "renewed", {**credential.ledger_record(), "previousSerial": old.serial})
    return credential, previous


def _require_files(files, request):
    needed = [files.cert, files.kubeconfig] + ([] if request.rekey else [files.key])
    missing = [os.path.basename(path) for path in needed if not os.path.isfile(path)]
    if missing:
        raise InvalidInput(f"cannot renew {request.user!r}: {', '.join(missing)} missing in {files.directory}",
                           hint="renew needs the folder 'create' wrote; --rekey makes a new key if only that is gone")


def _copy_folder(source, target):
    for name in os.listdir(source):
        path = os.path.join(source, name)
        if os.path.isfile(path):
            shutil.copy2(path, os.path.join(target, name))


def _update_kubeconfig(staged, user, rekey):
    config = kubeconfig.read_document(staged.kubeconfig)
    key_pem = read_bytes(staged.key) if rekey else None
    kubeconfig.replace_user_credentials(config, user, read_bytes(staged.cert), key_pem)
    os.unlink(staged.kubeconfig)
    write_private(staged.kubeconfig, kubeconfig.dump(config))
