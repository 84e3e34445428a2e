"""The cluster a user's kubeconfig points at: the one the admin's kubeconfig points at (its server,
CA, TLS server name and proxy), or --server. Only the address and the CA travel into a user's
kubeconfig: whatever else the admin's carries (credentials in a URL, tokens, exec entries) stays
behind, and what kubectl could not use or write back is refused here.
"""

import os
from dataclasses import dataclass
from typing import Optional

from ..errors import InvalidInput
from ..store.files import read_input
from . import urls
from .kubeconfig import decode_data, kubeconfig_paths, load_merged, uncarried_character


@dataclass(frozen=True, eq=False, repr=False)
class ClusterEndpoint:
    """What a user's kubeconfig needs to reach the cluster the admin's kubeconfig points at."""

    name: str
    server: str
    ca_pem: Optional[bytes] = None  # the CA the *server* presents
    tls_server_name: Optional[str] = None
    proxy_url: Optional[str] = None
    insecure_skip_tls_verify: bool = False
    source: str = ""  # where it came from, for messages
    context: Optional[str] = None  # the admin kubeconfig's context it was found through


def resolve_endpoint(kubeconfig=None, context=None, cluster=None, server=None, environ=None):
    """The endpoint for the user's kubeconfig, or None when there is no kubeconfig at all."""
    paths = kubeconfig_paths(kubeconfig, environ)
    if not paths:
        if context or cluster:
            raise InvalidInput(
                "no kubeconfig found, so --context/--cluster name nothing",
                hint="pass --kubeconfig FILE, or --server URL without --context/--cluster",
            )
        return None
    merged = load_merged(paths)
    name = _cluster_name(merged, context, cluster)
    entry = merged.clusters[name]
    endpoint = ClusterEndpoint(
        name=name,
        server=server or entry.get("server") or "",
        ca_pem=_server_ca(entry, merged.folders[f"clusters/{name}"]),
        tls_server_name=entry.get("tls-server-name"),
        proxy_url=entry.get("proxy-url"),
        insecure_skip_tls_verify=bool(entry.get("insecure-skip-tls-verify")),
        source=", ".join(merged.files),
        context=None if cluster else (context or merged.current_context),
    )
    if not endpoint.server:
        raise InvalidInput(
            f'cluster "{name}" has no server address',
            hint="give one with --server https://HOST:6443",
        )
    return endpoint


def check_carried(endpoint, server_flag=None):
    """What is copied into the user's kubeconfig must be something kubectl can use and write back, and
    must carry none of the admin's credentials (the rest of the admin's kubeconfig is kubectl's
    business); `server_flag` is --server, named as such."""
    from_flag = server_flag is not None and endpoint.server == server_flag
    for what, value in (
        ("name", endpoint.name),
        ("server", endpoint.server),
        ("tls-server-name", endpoint.tls_server_name),
        ("proxy-url", endpoint.proxy_url),
    ):
        odd = uncarried_character(value or "")
        if not odd:
            continue
        if what == "server" and from_flag:
            raise InvalidInput(
                f"--server holds the character {odd}, which kubectl cannot write back",
                hint="give the API server's URL, such as https://HOST:6443",
            )
        raise InvalidInput(
            f'{endpoint.source} (cluster "{endpoint.name}"): its {what} holds the character {odd}, '
            "which kubectl cannot write back",
            hint="fix that value in the kubeconfig",
        )
    _check_url(endpoint, "server", endpoint.server, from_flag)
    if endpoint.proxy_url is not None:
        _check_url(endpoint, "proxy-url", endpoint.proxy_url)


def _check_url(endpoint, what, url, from_flag=False):
    """A server or proxy URL kubectl can use, and no user name or password in it: it would be copied
    into every kubeconfig issued, the ledger and the output. The URL is never shown when it may
    hold one."""
    where = (
        "--server" if from_flag else f'{endpoint.source} (cluster "{endpoint.name}"): its {what}'
    )
    proxy = what == "proxy-url"
    if urls.has_credentials(url, proxy):
        hint = (
            "give the address alone, such as https://HOST:6443: the users authenticate with their certificates"
            if from_flag
            else "pass --server with the address alone (https://HOST:6443)"
            if not proxy
            else "point --kubeconfig at a copy whose proxy-url has no user:password@ (each user brings their own)"
        )
        raise InvalidInput(
            f"{where} holds credentials (a user name or password before an @), which would be "
            "copied into every kubeconfig issued; refused",
            hint=hint,
        )
    problem = urls.proxy_problem(url) if proxy else urls.server_problem(url)
    if problem:
        shown = urls.redacted(url, proxy)
        raise InvalidInput(
            f'{where} "{shown}" is not a URL kubectl can use: {problem}',
            hint="give the API server's URL, such as https://HOST:6443"
            if from_flag
            else f"fix the {what} in the kubeconfig, or pass --server URL"
            if not proxy
            else "fix the proxy-url in the kubeconfig (http, https or socks5://HOST:PORT)",
        )


def _cluster_name(merged, context, cluster):
    files = ", ".join(merged.files)
    if cluster:
        if cluster not in merged.clusters:
            raise InvalidInput(
                f'cluster "{cluster}" not found in {files}',
                hint="list them with: kubectl config get-clusters",
            )
        return cluster
    context_name = context or merged.current_context
    if not context_name:
        raise InvalidInput(
            f"no current context in {files}", hint="pick one with --context NAME or --cluster NAME"
        )
    if context_name not in merged.contexts:
        raise InvalidInput(
            f'context "{context_name}" not found in {files}',
            hint="list them with: kubectl config get-contexts",
        )
    name = merged.contexts[context_name].get("cluster")
    if name not in merged.clusters:
        raise InvalidInput(
            f'context "{context_name}" points at cluster "{name}", which is not defined',
            hint="pick another with --context or --cluster",
        )
    return name


def _server_ca(entry, folder):
    if entry.get("certificate-authority-data"):
        return decode_data(entry["certificate-authority-data"])
    path = entry.get("certificate-authority")
    if not path:
        return None
    return read_input(
        os.path.join(folder, os.path.expanduser(path)),
        "the cluster CA",
        "fix certificate-authority in the kubeconfig, or the file's permissions",
    )


def endpoint_from_server(server, ca_pem, name="kubernetes"):
    """The endpoint when there is no kubeconfig: --server, and the signing CA as server CA."""
    return ClusterEndpoint(name=name, server=server, ca_pem=ca_pem, source="--server")
