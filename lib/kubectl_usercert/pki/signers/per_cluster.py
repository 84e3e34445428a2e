"""Which signer signs for each cluster of a fleet, chosen as `create` chooses it for one cluster.

A cluster's CA is the one given for its context (`--ca-cert CONTEXT=FILE --ca-key CONTEXT=FILE`,
a roster's spec.clusters[].caCert/caKey), else a CA found here (USERCERT_CA_CERT/KEY, the
well-known places) when it is that cluster's: the CA its server presents (kubeadm: one CA), or the
server CA beside it is (k3s, rke2: server-ca.crt beside client-ca.crt). Without a CA at hand, `auto`
signs through that cluster's CertificateSigningRequest API, with the admin's context for it. A
plain `--ca-cert FILE` names no cluster, so it is refused when there are several.
"""

import os
from dataclasses import replace

from ...cluster.kubeconfig import kubeconfig_paths, load_merged
from ...errors import InvalidInput
from ...store.files import read_input
from ..certificate import pem_fingerprint
from .local import locate_ca


def single(options):
    """The options of a single-cluster command, where CONTEXT=FILE values may name its context (the
    one in use: --context, else the admin kubeconfig's current one)."""
    context = options.kubectl.context
    if context is None:
        paths = kubeconfig_paths(options.kubectl.kubeconfig)
        context = load_merged(paths).current_context if paths else None
    stray = [ca.context for ca in options.per_context if ca.context != context]
    if stray:
        raise InvalidInput(
            f'--ca-cert/--ca-key name context "{stray[0]}", and the cluster in use is '
            + (f'context "{context}"' if context else "not found through a context"),
            hint="name the context with --context too (several make a fleet), or drop CONTEXT=",
        )
    return options.for_context(context)


def for_clusters(options, clusters, progress=lambda _message: None, found=None):
    """SignerOptions for each FleetCluster, in order (each with that cluster's kubectl). `found`:
    the CA located here ((cert, key, given) or None), default: looked for now."""
    known = [cluster.context for cluster in clusters]
    for ca in options.per_context:
        if ca.context not in known:
            raise InvalidInput(
                f'--ca-cert/--ca-key name context "{ca.context}", which is not one of the clusters '
                f"({', '.join(known)})",
                hint="name it with --context too, or correct the name (CONTEXT=FILE)",
            )
    if (options.ca_cert or options.ca_key) and len(clusters) > 1:
        raise InvalidInput(
            f"--ca-cert/--ca-key FILE names no cluster, and there are {len(clusters)}",
            hint="give each cluster's CA as --ca-cert CONTEXT=FILE --ca-key CONTEXT=FILE",
        )
    if found is None and options.kind != "csr":
        found = locate_ca()
    chosen = []
    for cluster in clusters:
        own = options.for_context(cluster.context)
        own = replace(own, kubectl=cluster.kubectl)
        if own.ca_cert or own.ca_key or own.kind == "csr":
            chosen.append(own)
        elif found and belongs_to(found[0], cluster.endpoint.ca_pem):
            progress(f"{cluster.context}: signing with the CA found here, {found[0]}")
            chosen.append(replace(own, ca_cert=found[0], ca_key=found[1]))
        elif own.kind == "local":
            raise InvalidInput(
                f'--signer local: no CA for context "{cluster.context}"',
                hint=f"give it with --ca-cert {cluster.context}=FILE --ca-key {cluster.context}=FILE",
            )
        else:
            progress(
                f"{cluster.context}: no CA key at hand for it: signing through its cluster's "
                "CertificateSigningRequest API"
            )
            chosen.append(replace(own, kind="csr"))
    return chosen


def belongs_to(ca_cert, server_ca_pem):
    """Whether the CA certificate file `ca_cert` is the cluster's whose server presents
    `server_ca_pem`: that very CA, or the server CA beside it (server-ca.crt). Read without openssl."""
    if not server_ca_pem:
        return False
    try:
        wanted = pem_fingerprint(server_ca_pem)
    except ValueError:
        return False
    if wanted is None:
        return False
    for path in (ca_cert, os.path.join(os.path.dirname(ca_cert), "server-ca.crt")):
        try:
            if pem_fingerprint(read_input(path, "the CA certificate", "")) == wanted:
                return True
        except (InvalidInput, ValueError):
            continue
    return False
