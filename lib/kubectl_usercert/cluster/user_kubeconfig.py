"""A user's kubeconfig: the cluster it points at (taken from the admin's), how it is built, and
how its credentials are read back (by inspect, verify, renew).

The user's kubeconfig is self-contained: every credential and the server CA inlined as *-data,
so it can be handed over alone.
"""

import base64
import os
from dataclasses import dataclass
from typing import Optional

from ..errors import InvalidInput
from ..output import yamltext
from ..store.files import read_input
from . import urls
from .kubeconfig import (CONTEXT_FIELDS, USER_FIELDS, decode_data, kubeconfig_paths, load_merged, named_entries,
                         read_document, uncarried_character)


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


def resolve_endpoint(kubeconfig=None, context=None, cluster=None, server=None, environ=None):
    """The endpoint for the user's kubeconfig, or None when there is no kubeconfig at all."""
    paths = kubeconfig_paths(kubeconfig, environ)
    if not paths:
        if context or cluster:
            raise InvalidInput("no kubeconfig found, so --context/--cluster name nothing",
                               hint="pass --kubeconfig FILE, or --server URL without --context/--cluster")
        return None
    merged = load_merged(paths)
    name = _cluster_name(merged, context, cluster)
    entry = merged.clusters[name]
    endpoint = ClusterEndpoint(
        name=name, server=server or entry.get("server") or "",
        ca_pem=_server_ca(entry, merged.folders[f"clusters/{name}"]),
        tls_server_name=entry.get("tls-server-name"), proxy_url=entry.get("proxy-url"),
        insecure_skip_tls_verify=bool(entry.get("insecure-skip-tls-verify")), source=", ".join(merged.files))
    if not endpoint.server:
        raise InvalidInput(f'cluster "{name}" has no server address', hint="give one with --server https://HOST:6443")
    return endpoint


def check_carried(endpoint, server_flag=None):
    """What is copied into the user's kubeconfig must be something kubectl can use and write back, and
    must carry none of the admin's credentials (the rest of the admin's kubeconfig is kubectl's
    business); `server_flag` is --server, named as such."""
    from_flag = server_flag is not None and endpoint.server == server_flag
    for what, value in (("name", endpoint.name), ("server", endpoint.server),
                        ("tls-server-name", endpoint.tls_server_name), ("proxy-url", endpoint.proxy_url)):
        odd = uncarried_character(value or "")
        if not odd:
            continue
        if what == "server" and from_flag:
            raise InvalidInput(f"--server holds the character {odd}, which kubectl cannot write back",
                               hint="give the API server's URL, such as https://HOST:6443")
        raise InvalidInput(f'{endpoint.source} (cluster "{endpoint.name}"): its {what} holds the character {odd}, '
                           "which kubectl cannot write back", hint="fix that value in the kubeconfig")
    _check_url(endpoint, "server", endpoint.server, from_flag)
    if endpoint.proxy_url is not None:
        _check_url(endpoint, "proxy-url", endpoint.proxy_url)


def _check_url(endpoint, what, url, from_flag=False):
    """A server or proxy URL kubectl can use, and no user name or password in it: it would be copied
    into every kubeconfig issued, the ledger and the output. The URL is never shown when it may
    hold one."""
    where = "--server" if from_flag else f'{endpoint.source} (cluster "{endpoint.name}"): its {what}'
    proxy = what == "proxy-url"
    if urls.has_credentials(url, proxy):
        hint = ("give the address alone, such as https://HOST:6443: the users authenticate with their certificates"
                if from_flag else "pass --server with the address alone (https://HOST:6443)" if not proxy else
                "point --kubeconfig at a copy whose proxy-url has no user:password@ (each user brings their own)")
        raise InvalidInput(f"{where} holds credentials (a user name or password before an @), which would be "
                           "copied into every kubeconfig issued; refused", hint=hint)
    problem = urls.proxy_problem(url) if proxy else urls.server_problem(url)
    if problem:
        shown = urls.redacted(url, proxy)
        raise InvalidInput(f'{where} "{shown}" is not a URL kubectl can use: {problem}',
                           hint="give the API server's URL, such as https://HOST:6443" if from_flag else
                           f"fix the {what} in the kubeconfig, or pass --server URL" if not proxy else
                           "fix the proxy-url in the kubeconfig (http, https or socks5://HOST:PORT)")


def _cluster_name(merged, context, cluster):
    files = ", ".join(merged.files)
    if cluster:
        if cluster not in merged.clusters:
            raise InvalidInput(f'cluster "{cluster}" not found in {files}', hint="list them with: kubectl config get-clusters")
        return cluster
    context_name = context or merged.current_context
    if not context_name:
        raise InvalidInput(f"no current context in {files}", hint="pick one with --context NAME or --cluster NAME")
    if context_name not in merged.contexts:
        raise InvalidInput(f'context "{context_name}" not found in {files}',
                           hint="list them with: kubectl config get-contexts")
    name = merged.contexts[context_name].get("cluster")
    if name not in merged.clusters:
        raise InvalidInput(f'context "{context_name}" points at cluster "{name}", which is not defined',
                           hint="pick another with --context or --cluster")
    return name


def _server_ca(entry, folder):
    if entry.get("certificate-authority-data"):
        return decode_data(entry["certificate-authority-data"])
    path = entry.get("certificate-authority")
    if not path:
        return None
    return read_input(os.path.join(folder, os.path.expanduser(path)), "the cluster CA",
                      "fix certificate-authority in the kubeconfig, or the file's permissions")


def endpoint_from_server(server, ca_pem, name="kubernetes"):
    """The endpoint when there is no kubeconfig: --server, and the signing CA as server CA."""
    return ClusterEndpoint(name=name, server=server, ca_pem=ca_pem, source="--server")


def context_name(user, cluster):
    return f"{user}@{cluster}"


def build(endpoint, user, cert_pem, key_pem=None, namespace=None):
    """A self-contained kubeconfig: every credential inlined as *-data."""
    cluster = {"server": endpoint.server}
    if endpoint.ca_pem:
        cluster["certificate-authority-data"] = _b64(endpoint.ca_pem)
    if endpoint.tls_server_name:
        cluster["tls-server-name"] = endpoint.tls_server_name
    if endpoint.proxy_url:
        cluster["proxy-url"] = endpoint.proxy_url
    if endpoint.insecure_skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
    context = {"cluster": endpoint.name, "user": user}
    if namespace:
        context["namespace"] = namespace
    credentials = {"client-certificate-data": _b64(cert_pem)}
    if key_pem is not None:
        credentials["client-key-data"] = _b64(key_pem)
    name = context_name(user, endpoint.name)
    return {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": endpoint.name, "cluster": cluster}],
            "users": [{"name": user, "user": credentials}], "contexts": [{"name": name, "context": context}],
            "current-context": name, "preferences": {}}


def dump(config):
    return yamltext.dump(config)


def _b64(data):
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, eq=False, repr=False)
class UserCredentials:
    """The client certificate (and key) a kubeconfig's current context uses."""

    user: str
    cert_pem: bytes
    key_pem: Optional[bytes]
    cluster: Optional[str]
    server: Optional[str]
    namespace: Optional[str] = None


def current_user_credentials(path):
    """The current context's (else the only) user's certificate and key, from a kubeconfig file."""
    merged = load_merged([path])
    context = merged.contexts.get(merged.current_context or "", {})
    name = context.get("user") or (next(iter(merged.users)) if len(merged.users) == 1 else None)
    if name not in merged.users:
        raise InvalidInput(f"the kubeconfig {path} has no current context with a user", hint="pass the user's folder")
    entry, folder = merged.users[name], merged.folders[f"users/{name}"]
    cert = _data_or_file(entry, "client-certificate", folder, path)
    if cert is None:
        raise InvalidInput(f'user "{name}" in {path} has no client certificate',
                           hint="this kubeconfig authenticates some other way")
    cluster_name = context.get("cluster")
    cluster = merged.clusters.get(cluster_name or "", {})
    return UserCredentials(name, cert, _data_or_file(entry, "client-key", folder, path), cluster_name,
                           cluster.get("server"), context.get("namespace"))


def _data_or_file(entry, field_name, folder, path):
    if entry.get(f"{field_name}-data"):
        return decode_data(entry[f"{field_name}-data"])
    if entry.get(field_name):
        return read_input(os.path.join(folder, os.path.expanduser(entry[field_name])), field_name,
                          f"fix the path in {path}, or inline the data")
    return None


def replace_credentials(path, user, cert_pem, key_pem=None):
    """The kubeconfig file's mapping with `user`'s certificate (and key, when given) replaced."""
    config = read_document(path)
    named_entries(config, "users", USER_FIELDS, path)  # type-checked before it is changed
    named_entries(config, "contexts", CONTEXT_FIELDS, path)
    for entry in config.get("users") or []:
        if entry.get("name") == user:
            credentials = entry.get("user") or {}
            entry["user"] = credentials
            credentials.pop("client-certificate", None)
            credentials["client-certificate-data"] = _b64(cert_pem)
            if key_pem is not None:
                credentials.pop("client-key", None)
                credentials["client-key-data"] = _b64(key_pem)
            return config
    raise InvalidInput(f'the kubeconfig {path} has no user "{user}"', hint="re-create the credential with --force")
