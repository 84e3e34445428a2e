"""`verify`: ask the live cluster who a credential is (kubectl auth whoami) and compare with the certificate."""

import os
from dataclasses import dataclass, replace
from typing import Tuple

from ..cluster import identity, user_kubeconfig
from ..cluster.kubectl import Kubectl
from ..errors import InvalidInput
from ..output.fleet_results import PerCluster
from ..pki import openssl
from ..store import clusters, ledger, located
from ..store.layout import UserFiles


@dataclass(frozen=True, eq=False, repr=False)
class VerifyRequest:
    target: str  # a user in out_dir, or a kubeconfig
    out_dir: str = "clients"
    kubectl: Kubectl = Kubectl()  # its timeout; the kubeconfig is the credential's own
    contexts: Tuple[str, ...] = ()  # a fleet person: the clusters to ask (default: all)


def verify(request, progress=lambda _message: None):
    if not os.path.isfile(request.target):
        entries = ledger.read(
            request.out_dir, keep=lambda entry: entry.user == request.target, trust_required=False
        ).entries
        state = clusters.current(entries)
        if clusters.is_fleet(state):
            return _verify_fleet(request, state, progress)
    if len(request.contexts) > 1:
        raise InvalidInput(
            f"{request.target} is a credential for one cluster: one --context at most",
            hint="verify asks the cluster its own kubeconfig points at",
        )
    source = located.find(request.target, request.out_dir)
    if not source.kubeconfig:
        raise InvalidInput(
            f"{request.target} has no kubeconfig to verify with",
            hint="give a user name or a kubeconfig",
        )
    info = openssl.certificate_info(
        source.cert_path, data=source.cert_pem, what=f"the certificate in {source.shown}"
    )
    progress("Asking the cluster who this credential is")
    return identity.ask(
        request.kubectl.as_user(source.kubeconfig), info.common_name, info.organizations
    )


def _verify_fleet(request, state, progress):
    """Each of a fleet person's clusters (or those of --context) asked who its certificate is, through
    the person's kubeconfig and that cluster's context in it."""
    user_files = UserFiles.for_user(request.out_dir, request.target)
    chosen = clusters.select(state, request.target, request.contexts)
    if any(entry.key_held_by == "owner" for _, entry in chosen):
        raise InvalidInput(
            f"the key of {request.target!r} is held by its owner (signed from their request): the "
            "kubeconfig here has no key to ask the cluster with",
            hint="its owner checks it: kubectl usercert import --verify, or kubectl --context "
            f"{request.target}@CLUSTER auth whoami",
        )
    items = []
    for cluster, entry in chosen:
        info = openssl.certificate_info(clusters.cluster_files(user_files, cluster).cert)
        progress(f"{cluster}: asking the cluster who this credential is")
        kubectl = replace(
            request.kubectl,
            kubeconfig=user_files.kubeconfig,
            context=user_kubeconfig.context_name(request.target, cluster),
            cluster=None,
        )
        items.append(
            (cluster, entry.context, identity.ask(kubectl, info.common_name, info.organizations))
        )
    return PerCluster(request.target, tuple(items))
