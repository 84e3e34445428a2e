"""`sign --csr FILE`: sign a request a user made on their own machine; their key never comes here.

The request's self-signature is checked (its maker holds the key) and its subject must be exactly
the user and groups the admin names: a user cannot slip in a group. The kubeconfig written (the
bundle) has no key; its owner takes it in with `kubectl usercert import`, which finds the key in
their store. Access is granted in the same command as with create (--preset, --clusterrole, ...);
the ledger records the key as held by its owner, so `renew` leaves it to them (`renew --self`).
"""

import os
import shlex
import tempfile
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Optional, Tuple

from ..cluster.rbac import BindingPlan
from ..errors import InvalidInput
from ..operations import fleet as fleet_ops
from ..operations import fleet_members
from ..operations.access import applied_bindings, checked_bindings
from ..operations.adopt import ca_known_here
from ..operations.issue import checked_subject, endpoint, issue_user, refuse_or_adopt
from ..output.fleet_results import FleetIssued
from ..output.results import Signed
from ..pki import openssl
from ..pki.keys import acceptable_request_key
from ..pki.signers import SignerOptions, per_cluster
from ..pki.signers.chooser import choose_signer
from ..pki.subject import make_subject
from ..store import files
from ..store.layout import UserFiles

# String types whose bytes Go and openssl read alike; T61String, say, openssl reads as Latin-1 and
# Go as raw bytes, so what is checked here would not be what the cluster sees.
_PLAIN_STRING_TYPES = ("UTF8STRING", "PRINTABLESTRING")


@dataclass(frozen=True, eq=False, repr=False)
class SignRequest:
    csr_path: str
    user: str
    groups: Tuple[str, ...] = ()
    out_dir: str = "clients"
    validity: timedelta = timedelta(days=365)
    namespace: Optional[str] = None
    force: bool = False
    allow_system_masters: bool = False
    signing: SignerOptions = field(default_factory=SignerOptions)
    server: Optional[str] = None
    access: BindingPlan = field(default_factory=BindingPlan)
    print_rbac: bool = False  # hand the bindings back as manifests instead of applying them
    contexts: Tuple[str, ...] = ()  # --context, once (one cluster) or more (a bundle of several)


def sign(request, progress=lambda _message: None):
    """Sign the request for one cluster, or with several contexts for each of them (one bundle)."""
    if len(request.contexts) > 1:
        _refuse_one_cluster_flags(request)
    elif request.signing.per_context:
        request = replace(request, signing=per_cluster.single(request.signing))
    named, warnings = checked_subject(
        request.user, request.groups, allow_system_masters=request.allow_system_masters
    )
    # One private copy is read, checked and signed: the file the user can still write is read once.
    with tempfile.TemporaryDirectory(prefix="usercert-csr-") as private:
        copy, der = _private_copy(request.csr_path, os.path.join(private, "request"))
        progress("Checking the request's signature and subject")
        asked = openssl.request_info(copy, der=der, shown=request.csr_path)
        subject = _checked_subject(_untyped(asked.subject, request.csr_path), named)
        spec = acceptable_request_key(asked.key_type, asked.key_bits)
        if len(request.contexts) > 1:
            return _sign_everywhere(request, asked, subject, spec, warnings, progress)
        if not request.force:
            refuse_or_adopt(
                request.out_dir,
                subject.user,
                UserFiles.for_user(request.out_dir, subject.user),
                ca_known_here(request.signing),
            )
        manifests = checked_bindings(
            kubectl=request.signing.kubectl,
            access=request.access,
            subject=subject,
            print_rbac=request.print_rbac,
            progress=progress,
        )
        signer = choose_signer(request.signing, subject, progress)
        found = endpoint(request.signing.kubectl, request.server, signer, warnings)
        credential = issue_user(
            subject=subject,
            signer=signer,
            endpoint=found,
            out_dir=request.out_dir,
            lifetime=request.validity,
            key=spec,
            request=asked,
            namespace=request.namespace,
            force=request.force,
            warnings=warnings,
            bindings=manifests,
            self_renew=request.access.self_renew,
            progress=progress,
        )
    bindings = applied_bindings(
        kubectl=request.signing.kubectl,
        manifests=manifests,
        credential=credential,
        print_rbac=request.print_rbac,
        progress=progress,
    )
    return Signed(
        credential,
        tuple(owner_instructions(credential)),
        bindings,
        tuple(manifests),
        request.print_rbac,
    )


def _refuse_one_cluster_flags(request):
    for given, flag in (
        (request.server, "--server"),
        (request.signing.kubectl.cluster, "--cluster"),
    ):
        if given:
            raise InvalidInput(
                f"{flag} names one cluster, and there are several",
                hint="each context's cluster is the one the admin kubeconfig names for it; drop "
                + flag,
            )


def _sign_everywhere(request, asked, subject, spec, warnings, progress):
    """The request signed by each context's cluster (as create on several clusters signs: its own
    CA, or its CSR API), all or nothing; one bundle with a cluster, a user and a context for each,
    and no key."""
    user_files = UserFiles.for_user(request.out_dir, subject.user)
    if not request.force:
        refuse_or_adopt(request.out_dir, subject.user, user_files)
    members, manifests = fleet_members.prepared(
        subject=subject,
        signing=request.signing,
        contexts=request.contexts,
        access=request.access,
        print_rbac=request.print_rbac,
        progress=progress,
    )
    credentials = fleet_ops.issue_person(
        subject=subject,
        members=members,
        out_dir=request.out_dir,
        lifetime=request.validity,
        key=spec,
        request=asked,
        namespace=request.namespace,
        force=request.force,
        bindings=manifests,
        progress=progress,
    )
    bindings = fleet_ops.bind_everywhere(
        members=members,
        manifests=manifests,
        directory=user_files.directory,
        print_rbac=request.print_rbac,
        progress=progress,
    )
    return FleetIssued(
        credentials,
        bindings,
        tuple(manifests),
        request.print_rbac,
        warnings=tuple(warnings),
        owner_instructions=tuple(owner_instructions(credentials[0])),
    )


def _private_copy(source, path):
    """A private copy of the request, and whether it is DER (a PEM request may have text before it)."""
    data = files.read_input(source, "the request", "check --csr")
    files.write_private(path, data)
    return (
        path,
        b"-----BEGIN CERTIFICATE REQUEST-----" not in data
        and b"-----BEGIN NEW CERTIFICATE REQUEST" not in data,
    )


def _untyped(pairs, csr_path):
    plain = []
    for attribute, typed in pairs:
        string_type, _, value = typed.partition(":")
        if string_type not in _PLAIN_STRING_TYPES:
            raise InvalidInput(
                f"the request {csr_path} encodes {attribute} as {string_type}",
                hint="ask for a request made with UTF-8 names (openssl req -utf8)",
            )
        plain.append((attribute, value))
    return tuple(plain)


def _checked_subject(actual, named):
    """The request must hold exactly the user and groups named, in any order; the certificate then
    says them in the request's order (the one its owner asked for)."""
    expected = [("O", group) for group in named.groups] + [("CN", named.user)]
    if sorted(actual) != sorted(expected):
        shown = ", ".join(f"{attribute}={value}" for attribute, value in actual) or "(empty)"
        raise InvalidInput(
            f"the request's subject is {shown}, not the user and groups given",
            hint="ask its owner for a new request (openssl req -new -subj '/O=GROUP/CN=USER'), "
            "or name the user and groups it holds with --user and -g",
        )
    return make_subject(named.user, [value for attribute, value in actual if attribute == "O"])


def owner_instructions(credential):
    """What the key's owner runs with the kubeconfig (the bundle) sent to them: import it (their
    store finds the key), then ask the cluster who they are."""
    context = shlex.quote(credential.context)
    return [
        f"kubectl usercert import {shlex.quote(os.path.basename(credential.kubeconfig))} --set-current",
        f"kubectl --context {context} auth whoami",
    ]
