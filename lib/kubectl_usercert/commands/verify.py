"""`verify`: ask the live cluster who a credential is (kubectl auth whoami) and compare with the certificate."""

from dataclasses import dataclass

from ..cluster import identity
from ..cluster.kubectl import Kubectl
from ..errors import InvalidInput
from ..pki import openssl
from ..store import located


@dataclass(frozen=True, eq=False, repr=False)
class VerifyRequest:
    target: str  # a user in out_dir, or a kubeconfig
    out_dir: str = "clients"
    kubectl: Kubectl = Kubectl()  # its timeout; the kubeconfig is the credential's own


def verify(request, progress=lambda _message: None):
    source = located.find(request.target, request.out_dir)
    if not source.kubeconfig:
        raise InvalidInput(
            f"{request.target} has no kubeconfig to verify with",
            hint="give a user name or a kubeconfig",
        )
    info = openssl.certificate_info(
        source.cert_path, data=source.cert_pem, what=f"the certificate in {source.shown}"
    )
    progress("Asking the cluster who this credential is")
    return identity.ask(
        request.kubectl.as_user(source.kubeconfig), info.common_name, info.organizations
    )
