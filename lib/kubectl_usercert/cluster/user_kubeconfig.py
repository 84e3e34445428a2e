"""A user's kubeconfig: how it is built for the cluster it points at (cluster/endpoint.py), and how
its user's certificate and key are read back (by inspect, verify, renew, list).

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
from .kubeconfig import (
    CONTEXT_FIELDS,
    USER_FIELDS,
    decode_data,
    load_merged,
    named_entries,
    read_document,
)


def context_name(user, cluster):
    return f"{user}@{cluster}"


def build(endpoint, user, cert_pem, key_pem=None, namespace=None):
    """A self-contained kubeconfig: every credential inlined as *-data."""
    config = build_many(user, [(endpoint, cert_pem, key_pem)], namespace)
    config["users"][0]["name"] = user  # one cluster: the user entry is named as the user
    config["contexts"][0]["context"]["user"] = user
    return config


def build_many(user, members, namespace=None):
    """A self-contained kubeconfig for several clusters: [(endpoint, cert PEM, key PEM or None)], a
    cluster CLUSTER, a user USER@CLUSTER and a context USER@CLUSTER for each (their names are the
    endpoints'), the first context current."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": context_name(user, members[0][0].name),
        "preferences": {},
    }
    for endpoint, cert_pem, key_pem in members:
        name = context_name(user, endpoint.name)
        context = {"cluster": endpoint.name, "user": name}
        if namespace:
            context["namespace"] = namespace
        credentials = {"client-certificate-data": _b64(cert_pem)}
        if key_pem is not None:
            credentials["client-key-data"] = _b64(key_pem)
        config["clusters"].append({"name": endpoint.name, "cluster": cluster_entry(endpoint)})
        config["users"].append({"name": name, "user": credentials})
        config["contexts"].append({"name": name, "context": context})
    return config


def cluster_entry(endpoint):
    """The cluster entry of a kubeconfig for `endpoint`: its address and CA, nothing else."""
    cluster = {"server": endpoint.server}
    if endpoint.ca_pem:
        cluster["certificate-authority-data"] = _b64(endpoint.ca_pem)
    if endpoint.tls_server_name:
        cluster["tls-server-name"] = endpoint.tls_server_name
    if endpoint.proxy_url:
        cluster["proxy-url"] = endpoint.proxy_url
    if endpoint.insecure_skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
    return cluster


def dump(config):
    return yamltext.dump(config)


def _b64(data):
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, eq=False, repr=False)
class KubeconfigUser:
    """The client certificate (and key) a kubeconfig's current context uses."""

    user: str
    cert_pem: bytes
    key_pem: Optional[bytes]
    cluster: Optional[str]
    server: Optional[str]
    namespace: Optional[str] = None


def current_user(path):
    """The current context's (else the only) user's certificate and key, from a kubeconfig file."""
    merged = load_merged([path])
    context = merged.contexts.get(merged.current_context or "", {})
    name = context.get("user") or (next(iter(merged.users)) if len(merged.users) == 1 else None)
    if name not in merged.users:
        raise InvalidInput(
            f"the kubeconfig {path} has no current context with a user",
            hint="pass the user's folder",
        )
    entry, folder = merged.users[name], merged.folders[f"users/{name}"]
    cert = _data_or_file(entry, "client-certificate", folder, path)
    if cert is None:
        raise InvalidInput(
            f'user "{name}" in {path} has no client certificate',
            hint="this kubeconfig authenticates some other way",
        )
    cluster_name = context.get("cluster")
    cluster = merged.clusters.get(cluster_name or "", {})
    return KubeconfigUser(
        name,
        cert,
        _data_or_file(entry, "client-key", folder, path),
        cluster_name,
        cluster.get("server"),
        context.get("namespace"),
    )


def _data_or_file(entry, field_name, folder, path):
    if entry.get(f"{field_name}-data"):
        return decode_data(entry[f"{field_name}-data"])
    if entry.get(field_name):
        return read_input(
            os.path.join(folder, os.path.expanduser(entry[field_name])),
            field_name,
            f"fix the path in {path}, or inline the data",
        )
    return None


def replace_credentials(path, user, cert_pem, key_pem=None):
    """The kubeconfig file's mapping with `user`'s certificate (and key, when given) replaced."""
    return replace_many(path, {user: (cert_pem, key_pem)})


def replace_many(path, credentials):
    """The kubeconfig file's mapping with each named user's certificate (and key, when not None)
    replaced: {user entry name: (cert PEM, key PEM or None)}."""
    config = read_document(path)
    named_entries(config, "users", USER_FIELDS, path)  # type-checked before it is changed
    named_entries(config, "contexts", CONTEXT_FIELDS, path)
    left = dict(credentials)
    for entry in config.get("users") or []:
        if entry.get("name") in left:
            cert_pem, key_pem = left.pop(entry["name"])
            found = entry.get("user") or {}
            entry["user"] = found
            found.pop("client-certificate", None)
            found["client-certificate-data"] = _b64(cert_pem)
            if key_pem is not None:
                found.pop("client-key", None)
                found["client-key-data"] = _b64(key_pem)
    if left:
        raise InvalidInput(
            f'the kubeconfig {path} has no user "{next(iter(left))}"',
            hint="re-create the credential with --force",
        )
    return config


def only_context(config, context):
    """A kubeconfig of one context of `config` (a fleet person's): its cluster and user, current."""
    entry = next(c for c in config["contexts"] if c["name"] == context)
    return dict(
        config,
        clusters=[c for c in config["clusters"] if c["name"] == entry["context"]["cluster"]],
        users=[u for u in config["users"] if u["name"] == entry["context"]["user"]],
        contexts=[entry],
        **{"current-context": context},
    )


def without_contexts(config, contexts):
    """`config` (a fleet person's) less the named contexts and their clusters and users; the current
    context the first one left."""
    gone = [c for c in config["contexts"] if c["name"] in contexts]
    kept = [c for c in config["contexts"] if c["name"] not in contexts]
    clusters = {c["context"]["cluster"] for c in gone} - {c["context"]["cluster"] for c in kept}
    users = {c["context"]["user"] for c in gone} - {c["context"]["user"] for c in kept}
    current = config.get("current-context")
    return dict(
        config,
        clusters=[c for c in config["clusters"] if c["name"] not in clusters],
        users=[u for u in config["users"] if u["name"] not in users],
        contexts=kept,
        **{"current-context": current if current not in contexts else kept[0]["name"]},
    )
