"""`renew --self`, on the person's machine: their own credential renewed through the cluster's CSR
API, as themselves, while it is still valid (see operations/self_renew.py)."""

from dataclasses import dataclass
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


def renew_self(request, progress=lambda _message: None):
    return renew_own(
        kubeconfig=request.kubeconfig,
        context=request.context,
        keep_key=request.keep_key,
        key_type=request.key_type,
        key_size=request.key_size,
        wait_seconds=request.wait_seconds,
        timeout=request.timeout,
        progress=progress,
    )
