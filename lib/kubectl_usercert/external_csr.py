"""`sign --csr FILE`: sign a request a user made on their own machine; their key never comes here.

The request's self-signature is checked (its maker holds the key) and its subject must be exactly
the user and groups the admin names: a user cannot slip in a group. The kubeconfig written has no
key; its owner adds theirs with `kubectl config set-credentials`.
"""

import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Optional, Tuple

from . import ledger, openssl
from .errors import InvalidInput
from .issuing import (CreateRequest, check_days, effective_days, group_warnings, make_credential, resolve_endpoint,
                      sign_request, write_kubeconfig)
from .layout import UserFiles
from .signers import choose_signer
from .staging import refuse_existing, staged_dir, write_private
from .subject import make_subject

@dataclass
class SignRequest(CreateRequest):
    csr_path: str = ""
    groups: Tuple[str, ...] = field(default_factory=tuple)


def sign_external(request, progress=lambda _message: None):
    subject = make_subject(request.user, request.groups)
    group_warnings(subject.groups, request.allow_system_masters)
    check_days(request.days)
    # One private copy is read, checked and signed: the file the user can still write is read once.
    with tempfile.TemporaryDirectory(prefix="usercert-csr-") as private:
        checked = os.path.join(private, "request.pem")
        _private_copy(request.csr_path, checked)
        progress("Checking the request's signature and subject")
        asked = openssl.request_info(checked)
        _check_subject(asked.subject, subject)
        return _sign_checked(request, subject, checked, _key_type_of(asked), progress)


def _private_copy(source, pem_path):
    try:
        with open(source, "rb") as handle:
            data = handle.read(1 << 20)
    except OSError as exc:
        raise InvalidInput(f"cannot read the request {source}: {exc.strerror}", hint="check --csr") from None
    raw = pem_path + ".in"
    write_private(raw, data)
    openssl.request_to_pem(raw, pem_path)


def _key_type_of(asked):
    """The key type, refusing keys too weak to sign for (a user's own request may hold anything)."""
    key_type = openssl.KEY_TYPE_SWITCH.get(asked.key_type)
    weak = (key_type == "rsa" and (asked.key_bits or 0) < 2048) or \
        (key_type == "ecdsa" and asked.key_bits not in (256, 384, 521))
    if key_type is None or weak:
        size = f" {asked.key_bits}-bit" if asked.key_bits else ""
        raise InvalidInput(f"the request's{size} {asked.key_type} key is not accepted",
                           hint="ask for RSA of 2048 bits or more, ECDSA P-256/P-384/P-521, or Ed25519")
    return key_type


def _sign_checked(request, subject, checked_csr, key_type, progress):
    warnings = group_warnings(subject.groups, request.allow_system_masters)
    files = UserFiles.for_user(request.out_dir, subject.user)
    refuse_existing(files.directory, request.force)
    signer = choose_signer(request.signing, subject, progress)
    endpoint = resolve_endpoint(request, signer, warnings)
    days = effective_days(signer, request.days, warnings)
    with staged_dir(files.directory, request.force) as workdir:
        staged = files.inside(workdir)
        shutil.copyfile(checked_csr, staged.csr)
        public_key = openssl.public_key_of_csr(staged.csr)
        info = sign_request(staged, subject, key_type, signer, days, public_key, progress)
        write_kubeconfig(staged, endpoint, subject.user, request.namespace, with_key=False)
    warnings.extend(signer.notes)
    credential = make_credential(subject, info, files, endpoint, request.namespace, signer, warnings)
    credential.key_path = None
    ledger.append(request.out_dir, "issued", {**credential.ledger_record(), "keyHeldBy": "owner"})
    return credential


def _check_subject(actual, subject):
    expected = [("O", group) for group in subject.groups] + [("CN", subject.user)]
    if sorted(actual) != sorted(expected):
        shown = ", ".join(f"{attribute}={value}" for attribute, value in actual) or "(empty)"
        raise InvalidInput(f"the request's subject is {shown}, not the user and groups given",
                           hint="ask its owner for a new request (openssl req -new -subj '/O=GROUP/CN=USER'), "
                                "or name the user and groups it holds with --user and -g")


def owner_instructions(credential, key_name: Optional[str] = None):
    """The commands the key's owner runs to put their key into the kubeconfig and try it."""
    kubeconfig = shlex.quote(os.path.basename(credential.kubeconfig_path))
    key = shlex.quote(key_name or "PATH/TO/YOUR.key")
    user = shlex.quote(credential.user)
    return [
        f"kubectl config set-credentials --kubeconfig {kubeconfig} --client-key {key} --embed-certs -- {user}",
        f"kubectl --kubeconfig {kubeconfig} auth whoami",
    ]
