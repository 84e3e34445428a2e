"""`renew --self`, on the person's machine: their own credential renewed through the cluster's CSR
API, as themselves, while it is still valid (see operations/self_renew.py). A bundle of several
clusters imported at once is renewed on each of them, one after the other (or on the contexts
named with --context)."""

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Optional, Tuple

from ..errors import UsercertError
from ..operations.self_renew import imported_with
from ..operations.self_renew import renew_self as renew_own


@dataclass(frozen=True, eq=False, repr=False)
class SelfRenewRequest:
    kubeconfig: Optional[str] = None
    contexts: Tuple[str, ...] = ()  # default: the current context's, and those imported with it
    keep_key: bool = False
    key_type: Optional[str] = None  # the new key's (default: the current key's type and size)
    key_size: Optional[int] = None
    wait_seconds: float = 300.0
    timeout: float = 30.0
    credential: Optional[str] = None  # USER@CLUSTER in the store, instead of --context
    background: bool = False  # started by the credential plugin
    exec_plugin: bool = False  # the kubeconfig's user becomes the credential plugin
    renew_before: Optional[timedelta] = None


def renew_self(request, progress=lambda _message: None):
    if request.credential:  # one credential of the store, named (the plugin's renewals)
        return _renew(request, None, progress)
    contexts = list(request.contexts) or imported_with(request.kubeconfig)
    if len(contexts) == 1:
        return _renew(request, contexts[0], progress)
    done = []
    for context in contexts:
        try:
            done.append(_renew(request, context, lambda m, c=context: progress(f"{c}: {m}")))
        except UsercertError as exc:
            if done:  # (each renewal stands on its own: those made before stay)
                renewed = ", ".join(d.credentials[0].context for d in done)
                exc.details = "\n".join(filter(None, [exc.details, f"renewed already: {renewed}"]))
            raise
    return replace(
        done[0],
        credentials=tuple(d.credentials[0] for d in done),
        previous_serial=", ".join(d.previous_serial for d in done),
        warnings=tuple(w for d in done for w in d.warnings),
    )


def _renew(request, context, progress):
    return renew_own(
        kubeconfig=request.kubeconfig,
        context=context,
        keep_key=request.keep_key,
        key_type=request.key_type,
        key_size=request.key_size,
        wait_seconds=request.wait_seconds,
        timeout=request.timeout,
        credential=request.credential,
        background=request.background,
        exec_plugin=request.exec_plugin,
        renew_before=request.renew_before,
        progress=progress,
    )
