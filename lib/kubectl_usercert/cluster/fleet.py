"""Several clusters at once: the contexts of the admin's kubeconfig a fleet command names, each
resolved to the cluster it reaches, the kubectl that reaches it, and the name the cluster gets in the
person's kubeconfig and files.

kubectl merges the files of KUBECONFIG by name, the first definition winning: with two admin
kubeconfigs that both call their cluster `kubernetes` and their user `kubernetes-admin` (two kubeadm
clusters), context `lab` of the second file reaches the first file's server with the first file's
credentials. A fleet command does not fall for it: a context whose own file defines the cluster and
the user it names, differently from the definitions kubectl would take, is read from its own file
alone (kubectl runs with --kubeconfig THAT_FILE for it), and a warning says so; a context that needs
a shadowed name its own file does not define is refused. Two contexts that reach one server are
refused too: a person gets one certificate per cluster.

The name of a cluster in the person's kubeconfig is the admin kubeconfig's name for it where that
is unique among the clusters named, else the context's name (else that with -2, -3, ...).
"""

from dataclasses import dataclass, replace
from typing import Optional

from ..errors import InvalidInput
from .endpoint import ClusterEndpoint, resolve_endpoint
from .kubeconfig import kubeconfig_paths, load_merged
from .kubectl import Kubectl

_SHOWN = 12  # contexts named in a hint, at most


@dataclass(frozen=True, eq=False, repr=False)
class FleetCluster:
    """One cluster of a fleet: the admin's context for it, and what reaches it."""

    context: str
    name: str  # in the person's kubeconfig (cluster NAME, user and context USER@NAME) and files
    kubectl: Kubectl  # the admin's kubectl for this context (scoped to its own file where needed)
    endpoint: ClusterEndpoint  # its name is `name`
    note: Optional[str] = None  # what the admin should know (a context read from its own file)


def resolve(kubectl, contexts=(), all_contexts=False):
    """[FleetCluster] for the contexts named (in order, each once), or every context of the admin
    kubeconfig (the current one first, then the others as the files list them)."""
    paths = kubeconfig_paths(kubectl.kubeconfig)
    if not paths:
        raise InvalidInput(
            "several clusters are read from a kubeconfig, and none was found",
            hint="pass --kubeconfig FILE, or set KUBECONFIG (the contexts are its)",
        )
    merged = load_merged(paths)
    names = _all(merged) if all_contexts else list(dict.fromkeys(contexts))
    if not names:
        raise InvalidInput(
            f"there are no contexts in {', '.join(paths)}",
            hint="add one (kubectl config set-context), or name the cluster with --server",
        )
    for name in names:
        if name not in merged.contexts:
            raise InvalidInput(
                f'context "{name}" not found in {", ".join(paths)}',
                hint=f"the contexts there: {_listed(merged.contexts)} (kubectl config get-contexts)",
            )
    singles = {path: load_merged([path]) for path in paths} if len(paths) > 1 else {}
    found = [_resolved(kubectl, merged, singles, name) for name in names]
    _refuse_one_cluster_twice(found)
    return _named(found)


def kubectl_for(kubectl, context):
    """The admin's kubectl for one context, as a fleet command reached it (scoped to its own file
    where KUBECONFIG shadows its names): for the ledger's recorded context, at renewal and revocation."""
    return resolve(kubectl, (context,))[0].kubectl


def _all(merged):
    names = list(merged.contexts)
    current = merged.current_context
    return ([current] if current in merged.contexts else []) + [n for n in names if n != current]


def _listed(names):
    names = sorted(names)
    return ", ".join(names[:_SHOWN]) + (
        f" and {len(names) - _SHOWN} more" if names[_SHOWN:] else ""
    )


def _resolved(kubectl, merged, singles, context):
    own_file, note = _own_file(merged, singles, context)
    scoped = replace(
        kubectl, kubeconfig=own_file or kubectl.kubeconfig, context=context, cluster=None
    )
    endpoint = resolve_endpoint(scoped.kubeconfig, context)
    return FleetCluster(context, endpoint.name, scoped, endpoint, note)


def _own_file(merged, singles, context):
    """(the file a context must be read from alone, a note) when KUBECONFIG shadows the cluster or
    user it names with another file's definition; (None, None) when kubectl's merge reads it right."""
    if not singles:
        return None, None
    home = next(path for path, single in singles.items() if context in single.contexts)
    own = singles[home]
    wanted = own.contexts[context]
    shadowed = []
    for kind in ("clusters", "users"):
        name = wanted.get(kind[:-1])
        source = next((p for p, single in singles.items() if name in getattr(single, kind)), None)
        if name is None or source is None or source == home:
            continue
        theirs = getattr(singles[source], kind)[name]
        ours = getattr(own, kind).get(name)
        if ours is None:
            continue  # defined only elsewhere: kubectl's merge is what the file means
        if (
            ours != theirs
            or own.folders[f"{kind}/{name}"] != singles[source].folders[f"{kind}/{name}"]
        ):
            shadowed.append((kind[:-1], name, source))
    if not shadowed:
        return None, None
    missing = [
        f'{kind[:-1]} "{wanted[kind[:-1]]}"'
        for kind in ("clusters", "users")
        if wanted.get(kind[:-1]) and wanted[kind[:-1]] not in getattr(own, kind)
    ]
    said = " and ".join(f'{kind} "{name}"' for kind, name, _ in shadowed)
    sources = ", ".join(dict.fromkeys(source for *_, source in shadowed))
    if missing:
        raise InvalidInput(
            f'context "{context}" ({home}) names {said}, which kubectl takes from {sources} (the '
            f"first file of KUBECONFIG that defines a name wins), and {' and '.join(missing)} that "
            f"{home} does not define",
            hint="give each cluster and user a name of its own in the files, or name the contexts of "
            "one file at a time with --kubeconfig FILE",
        )
    return home, (
        f'context "{context}": its {said} are defined differently in {sources}, which kubectl '
        f"would take with this KUBECONFIG (the first definition of a name wins); read from {home} "
        "alone, where the context is defined"
    )


def _refuse_one_cluster_twice(found):
    seen = {}
    for cluster in found:
        endpoint = cluster.endpoint
        key = (endpoint.server, endpoint.tls_server_name, endpoint.proxy_url)
        if key in seen:
            raise InvalidInput(
                f'contexts "{seen[key].context}" and "{cluster.context}" both reach '
                f"{endpoint.server}: a person gets one certificate per cluster",
                hint="name each cluster once (--context)",
            )
        seen[key] = cluster


def _named(found):
    """Each cluster named as the admin's kubeconfig names it where that is unique, else by its
    context (a name is a key in the person's kubeconfig: two of one name would lose one)."""
    counts = {}
    for cluster in found:
        counts[cluster.name] = counts.get(cluster.name, 0) + 1
    taken, named = set(), []
    for cluster in found:
        name = cluster.name if counts[cluster.name] == 1 else cluster.context
        candidate, number = name, 1
        while candidate in taken or (candidate != cluster.name and counts.get(candidate)):
            number += 1
            candidate = f"{name}-{number}"
        taken.add(candidate)
        named.append(
            replace(cluster, name=candidate, endpoint=replace(cluster.endpoint, name=candidate))
        )
    return named
