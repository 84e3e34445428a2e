"""What `import` tells the person about the clusters of a bundle, beside taking it: a server kubectl
will not check, and the person's other contexts that a replaced cluster entry moves."""

from ..cluster import person_kubeconfig, user_kubeconfig


def unchecked_servers(credentials):
    """Warnings for the clusters of a bundle whose server kubectl will not check: a bundle travels
    by mail or chat, and whoever sits between the person and such a server reads and answers
    everything they send (the admin's own kubeconfig may have been so; `create` says it too)."""
    said = {}
    for credential in credentials:
        name, cluster = credential.bundled.cluster, credential.bundled.cluster_entry
        if cluster.get("insecure-skip-tls-verify"):
            said[name] = (
                f'cluster "{name}" of the bundle has insecure-skip-tls-verify: kubectl will not '
                "check that it talks to that cluster; ask the admin for its CA "
                "(certificate-authority-data)"
            )
        elif not cluster.get("certificate-authority-data"):
            said[name] = (
                f'cluster "{name}" of the bundle names no CA: the new context trusts the system '
                "CAs for its server"
            )
    return tuple(said.values())


def moved_contexts(kubeconfig, credentials):
    """Warnings for the person's other contexts whose cluster entry the import replaces (--force,
    which a newer bundle needs anyway): from then on they talk to the bundle's server."""
    ours = {user_kubeconfig.context_name(c.user, c.bundled.cluster) for c in credentials}
    said, seen = [], set(ours)
    documents = [kubeconfig.document] + [document for _, document in kubeconfig.alongside]
    for item in (item for document in documents for item in document.get("contexts") or []):
        name, context = item.get("name"), item.get("context") or {}
        if name in seen:
            continue  # (ours, or hidden by the first file's: kubectl's first definition wins)
        seen.add(name)
        for credential in credentials:
            cluster, body = credential.bundled.cluster, credential.bundled.cluster_entry
            before = person_kubeconfig.defined(kubeconfig, "clusters", cluster)
            if context.get("cluster") == cluster and before not in (None, body):
                said.append(
                    f'cluster "{cluster}" was replaced: context "{name}" (user '
                    f'"{context.get("user")}") now talks to {body.get("server")}'
                )
    return tuple(dict.fromkeys(said))
