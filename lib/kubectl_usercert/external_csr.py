"""`sign --csr FILE`: sign a request a user made on their own machine; their key never comes here.

The request's self-signature is checked (its maker holds the key) and its subject must be exactly
the user and groups the admin names: a user cannot slip in a group. The kubeconfig written has no
key; its owner adds theirs with `kubectl config set-credentials`.
"""

import os
import shlex
import tempfile
from dataclasses import dataclass, field
from typing import Optional, Tuple

from . import ledger, openssl
from .errors import InvalidInput
from .issuing import (CreateRequest, check_days, effective_days, group_warnings, make_credential, resolve_endpoint,
                      sign_request, write_kubeconfig)
from .keys import acceptable_request_key
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
        checked, der = _private_copy(request.csr_path, os.path.join(private, "request"))
        progress("Checking the request's signature and subject")
        asked = openssl.request_info(checked, der=der, shown=request.csr_path)
        subject = _check_subject(_untyped(asked.subject, request.csr_path), subject)
        spec = acceptable_request_key(asked.key_type, asked.key_bits)
        return _sign_checked(request, subject, asked, spec, progress)


def _private_copy(source, path):
    """A private copy of the request, and whether it is DER (a PEM request may have text before it)."""
    try:
        with open(source, "rb") as handle:
            data = handle.read(1 << 20)
    except OSError as exc:
        raise InvalidInput(f"cannot read the request {source}: {exc.strerror}", hint="check --csr") from None
    write_private(path, data)
    return path, b"-----BEGIN CERTIFICATE REQUEST-----" not in data and b"-----BEGIN NEW CERTIFICATE REQUEST" not in data


# String types whose bytes Go and openssl read alike; T61String, say, openssl reads as Latin-1 and
# Go as raw bytes, so what is checked here would not be what the cluster sees.
_PLAIN_STRING_TYPES = ("UTF8STRING", "PRINTABLESTRING")


def _untyped(pairs, csr_path):
    plain = []
    for attribute, typed in pairs:
        string_type, _, value = typed.partition(":")
        if string_type not in _PLAIN_STRING_TYPES:
            raise InvalidInput(f"the request {csr_path} encodes {attribute} as {string_type}",
                               hint="ask for a request made with UTF-8 names (openssl req -utf8)")
        plain.append((attribute, value))
    return tuple(plain)


def _sign_checked(request, subject, asked, spec, progress):
    warnings = group_warnings(subject.groups, request.allow_system_masters)
    files = UserFiles.for_user(request.out_dir, subject.user)
    refuse_existing(files.directory, request.force)
    signer = choose_signer(request.signing, subject, progress)
    endpoint = resolve_endpoint(request, signer, warnings)
    days = effective_days(signer, request.days, warnings)
    with staged_dir(files.directory, request.force) as workdir:
        staged = files.inside(workdir)
        write_private(staged.csr, asked.pem)
        info = sign_request(staged, subject, spec, signer, days, asked.public_key, progress)
        write_kubeconfig(staged, endpoint, subject.user, request.namespace, with_key=False)
    warnings.extend(signer.notes)
    credential = make_credential(subject, info, files, endpoint, request.namespace, signer, warnings)
    credential.key_path = None
    ledger.append(request.out_dir, "issued", {**credential.ledger_record(), "keyHeldBy": "owner"})
    return credential


def _check_subject(actual, subject):
    """The request must hold exactly the user and groups named, in any order; the certificate then
    says them in the request's order (the one its owner asked for)."""
    expected = [("O", group) for group in subject.groups] + [("CN", subject.user)]
    if sorted(actual) != sorted(expected):
        shown = ", ".join(f"{attribute}={value}" for attribute, value in actual) or "(empty)"
        raise InvalidInput(f"the request's subject is {shown}, not the user and groups given",
                           hint="ask its owner for a new request (openssl req -new -subj '/O=GROUP/CN=USER'), "
                                "or name the user and groups it holds with --user and -g")
    return make_subject(subject.user, [value for attribute, value in actual if attribute == "O"])


def owner_instructions(credential, key_name: Optional[str] = None):
    """The commands the key's owner runs to put their key into the kubeconfig and try it."""
    kubeconfig = shlex.quote(os.path.basename(credential.kubeconfig_path))
    key = shlex.quote(key_name or "PATH/TO/YOUR.key")
    user = shlex.quote(credential.user)
    return [
        f"kubectl config set-credentials --kubeconfig {kubeconfig} --client-key {key} --embed-certs -- {user}",
        f"kubectl --kubeconfig {kubeconfig} auth whoami",
    ]
