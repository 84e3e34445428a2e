"""`renew --self`, on the person's machine: their own credential renewed through the cluster's CSR
API, as themselves, while it is still valid (see operations/self_renew.py)."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from ..operations.self_renew import renew_self as renew_own


@dataclass(frozen=True, eq=False, repr=False)
class SelfRenewRequest:
    kubeconfig: Optional[str] = None
    context: Optional[str] = None  # default: the current context
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
    return renew_own(
        kubeconfig=request.kubeconfig,
        context=request.context,
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
