"""Kubeconfigs: read the admin's with kubectl's loading rules, build a user's self-contained one.

Loading follows client-go's clientcmd: `--kubeconfig FILE` alone (it must exist), else every file
in KUBECONFIG (missing ones skipped, the first definition of a name wins), else ~/.kube/config.
"""

import base64
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import yaml

from .errors import InvalidInput


@dataclass(frozen=True)
class ClusterEndpoint:
    """What a user's kubeconfig needs to reach the cluster the admin's kubeconfig points at."""

    name: str
    server: str
    ca_pem: Optional[bytes] = None  # the CA the *server* presents
    tls_server_name: Optional[str] = None
    proxy_url: Optional[str] = None
    insecure_skip_tls_verify: bool = False
    source: str = ""  # where it came from, for messages


@dataclass
class MergedKubeconfig:
    files: List[str]
    clusters: Dict[str, dict] = field(default_factory=dict)
    contexts: Dict[str, dict] = field(default_factory=dict)
    users: Dict[str, dict] = field(default_factory=dict)
    current_context: Optional[str] = None
    # Folder of the file each cluster came from: relative paths resolve against it.
    cluster_dirs: Dict[str, str] = field(default_factory=dict)


def kubeconfig_paths(explicit=None, environ=None):
    """The files kubectl would read, in precedence order (only existing ones)."""
    environ = os.environ if environ is None else environ
    if explicit:
        if not os.path.isfile(explicit):
            raise InvalidInput(f"the kubeconfig {explicit} does not exist", hint="check --kubeconfig")
        return [explicit]
    if environ.get("KUBECONFIG"):
        seen, paths = set(), []
        for path in environ["KUBECONFIG"].split(os.pathsep):
            if path and path not in seen and os.path.isfile(path):
                seen.add(path)
                paths.append(path)
        return paths
    home = environ.get("HOME") or os.path.expanduser("~")
    default = os.path.join(home, ".kube", "config")
    return [default] if os.path.isfile(default) else []


def load_merged(paths):
    merged = MergedKubeconfig(files=list(paths))
    for path in paths:
        document = _read_yaml(path)
        folder = os.path.dirname(os.path.abspath(path))
        for kind, target in (("clusters", merged.clusters), ("contexts", merged.contexts), ("users", merged.users)):
            for entry in _named_entries(document, kind, path):
                if entry["name"] not in target:
                    target[entry["name"]] = entry.get(kind[:-1]) or {}
                    if kind == "clusters":
                        merged.cluster_dirs[entry["name"]] = folder
        if merged.current_context is None and document.get("current-context"):
            merged.current_context = document["current-context"]
    return merged


def _read_yaml(path):
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise InvalidInput(f"cannot read the kubeconfig {path}: {exc.strerror}", hint="check the path") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where else ""
        raise InvalidInput(f"the kubeconfig {path} is not valid YAML{at}",
                           hint=f"check it with: kubectl config view --kubeconfig {path}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InvalidInput(f"the kubeconfig {path} is not a kubeconfig (not a YAML mapping)",
                           hint=f"check it with: kubectl config view --kubeconfig {path}")
    return document


def _named_entries(document, kind, path):
    entries = document.get(kind) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("name") for e in entries):
        raise InvalidInput(f"the kubeconfig {path} has a malformed '{kind}' list",
                           hint=f"every entry needs a name; check it with: kubectl config view --kubeconfig {path}")
    return entries


def resolve_cluster(kubeconfig=None, context=None, cluster=None, server=None, environ=None):
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
        name=name,
        server=server or entry.get("server") or "",
        ca_pem=_server_ca(entry, merged.cluster_dirs[name]),
        tls_server_name=entry.get("tls-server-name"),
        proxy_url=entry.get("proxy-url"),
        insecure_skip_tls_verify=bool(entry.get("insecure-skip-tls-verify")),
        source=", ".join(merged.files),
    )
    if not endpoint.server:
        raise InvalidInput(f'cluster "{name}" has no server address', hint="give one with --server https://HOST:6443")
    return endpoint


def _cluster_name(merged, context, cluster):
    files = ", ".join(merged.files)
    if cluster:
        if cluster not in merged.clusters:
            raise InvalidInput(f'cluster "{cluster}" not found in {files}',
                               hint="list them with: kubectl config get-clusters")
        return cluster
    context_name = context or merged.current_context
    if not context_name:
        raise InvalidInput(f"no current context in {files}",
                           hint="pick one with --context NAME or --cluster NAME")
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
        try:
            return base64.b64decode(entry["certificate-authority-data"], validate=True)
        except ValueError:
            raise InvalidInput("the kubeconfig's certificate-authority-data is not valid base64",
                               hint="check it with: kubectl config view --raw") from None
    path = entry.get("certificate-authority")
    if not path:
        return None
    path = os.path.join(folder, os.path.expanduser(path))
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InvalidInput(f"cannot read the cluster CA {path}: {exc.strerror}",
                           hint="fix certificate-authority in the kubeconfig, or the file's permissions") from None


def endpoint_from_server(server, ca_pem, name="kubernetes"):
    """The endpoint when there is no kubeconfig: --server, and the signing CA as server CA."""
    return ClusterEndpoint(name=name, server=server, ca_pem=ca_pem, source="--server")


def context_name(user, cluster):
    return f"{user}@{cluster}"


def build_user_kubeconfig(endpoint, user, cert_pem, key_pem=None, namespace=None):
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
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": endpoint.name, "cluster": cluster}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }


def dump(config):
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False, allow_unicode=True)


def _b64(data):
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class UserCredentials:
    """The client certificate (and key) a kubeconfig's current context uses."""

    user: str
    cert_pem: bytes
    key_pem: Optional[bytes]
    cluster: Optional[str]
    server: Optional[str]
    namespace: Optional[str] = None


def current_user_credentials(path):
    """Read the current context's (else the only) user's certificate from a kubeconfig file."""
    merged = load_merged([path])
    context = merged.contexts.get(merged.current_context or "", {})
    name = context.get("user") or (next(iter(merged.users)) if len(merged.users) == 1 else None)
    if name not in merged.users:
        raise InvalidInput(f"the kubeconfig {path} has no current context with a user", hint="pass the user's folder")
    entry = merged.users[name]
    folder = os.path.dirname(os.path.abspath(path))
    cert = _data_or_file(entry, "client-certificate", folder)
    if cert is None:
        raise InvalidInput(f'user "{name}" in {path} has no client certificate',
                           hint="this kubeconfig authenticates some other way")
    cluster_name = context.get("cluster")
    cluster = merged.clusters.get(cluster_name or "", {})
    return UserCredentials(name, cert, _data_or_file(entry, "client-key", folder), cluster_name, cluster.get("server"),
                           context.get("namespace"))


def _data_or_file(entry, field_name, folder):
    if entry.get(f"{field_name}-data"):
        return base64.b64decode(entry[f"{field_name}-data"])
    if entry.get(field_name):
        with open(os.path.join(folder, os.path.expanduser(entry[field_name])), "rb") as handle:
            return handle.read()
    return None


def replace_user_credentials(config, user, cert_pem, key_pem=None):
    """The kubeconfig mapping with `user`'s certificate (and key, when given) replaced."""
    for entry in config.get("users") or []:
        if entry.get("name") == user:
            credentials = entry.setdefault("user", {})
            credentials.pop("client-certificate", None)
            credentials["client-certificate-data"] = _b64(cert_pem)
            if key_pem is not None:
                credentials.pop("client-key", None)
                credentials["client-key-data"] = _b64(key_pem)
            return config
    raise InvalidInput(f'the kubeconfig has no user "{user}"', hint="re-create the credential with --force")


def read_document(path):
    return _read_yaml(path)
