"""`import BUNDLE`, on the person's machine: the certificate the admin signed (`sign`) taken in. Its
key is found in the person's store by its public key, the certificate checked against the key and
the request, and a cluster, a user and a context merged into their kubeconfig (see
operations/import_credential.py). A kubeconfig `create` made, key included, is taken too, with a
warning: that key was made on the admin's machine.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from ..cluster import identity, person_kubeconfig
from ..cluster.kubectl import Kubectl
from ..operations import import_credential, import_warnings
from ..output.results import CredentialsInstalled
from ..store.person import PersonStore


@dataclass(frozen=True, eq=False, repr=False)
class ImportRequest:
    bundle: str  # a kubeconfig file, or - for stdin
    kubeconfig: Optional[str] = None  # the person's: --kubeconfig, else kubectl's file to write
    force: bool = False  # replace entries of the same name that differ (a backup is kept)
    set_current: bool = False
    verify: bool = False
    timeout: float = 30.0
    exec_plugin: bool = False  # the user runs the credential plugin, which reads the store
    renew_before: Optional[timedelta] = None  # when the plugin renews (default: a third)


def import_bundle(order, progress=lambda _message: None):
    store = PersonStore.open()
    progress(f"Checking {order.bundle} against the keys in {store.root}")
    credentials = [
        import_credential.checked(store, bundled)
        for bundled in import_credential.read_bundle(order.bundle)
    ]
    elsewhere = any(credential.made_elsewhere for credential in credentials)
    warnings = (
        (
            f"the key in {order.bundle} was made elsewhere (on the machine that ran `kubectl "
            "usercert create`), so it is not only yours: it is in your store now, but next time "
            "make your own with `kubectl usercert request`",
        )
        if elsewhere
        else ()
    ) + import_warnings.unchecked_servers(credentials)
    kubeconfig = person_kubeconfig.open_target(order.kubeconfig)
    if order.force:
        warnings += import_warnings.moved_contexts(kubeconfig, credentials)
    progress(f"Adding {len(credentials)} context(s) to {kubeconfig.shown}")
    installed, backup = import_credential.install(
        store=store,
        kubeconfig=kubeconfig,
        credentials=credentials,
        force=order.force,
        set_current=order.set_current,
        exec_plugin=order.exec_plugin,
        renew_before=order.renew_before,
    )
    verifications = ()
    if order.verify:
        progress("Asking the cluster who the new context's user is")
        verifications = tuple(
            identity.ask(
                # (kubectl's own files: the context's cluster may be another file's)
                Kubectl(order.kubeconfig, credential.context, None, order.timeout),
                credential.user,
                credential.groups,
            )
            for credential in installed
        )
    return CredentialsInstalled(
        credentials=tuple(installed),
        kubeconfig=kubeconfig.shown,
        source=order.bundle,
        backup=backup,
        current_context=installed[0].context if order.set_current else None,
        key_made_elsewhere=elsewhere,
        verifications=verifications,
        warnings=warnings,
    )
