"""`demo`: a newcomer's first run with no cluster at hand.

A throwaway CA and an admin kubeconfig in a scratch folder stand in for a cluster; a user is then
issued through exactly the code path `create` uses, and inspected.
"""

import os
import tempfile
from dataclasses import dataclass

from . import inspection, issuing, kubeconfig, openssl
from .errors import OutputExists
from .signers import SignerOptions
from .staging import ensure_private_dir, write_private

DEMO_SERVER = "https://127.0.0.1:6443"


@dataclass
class DemoResult:
    directory: str
    credential: issuing.IssuedCredential
    report: inspection.Inspection

    def as_record(self):
        return {"directory": self.directory, "credential": self.credential.as_record(),
                "inspection": self.report.as_record()}


def run_demo(directory=None, progress=lambda _message: None):
    directory = _scratch(directory)
    ca_cert, ca_key = os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key")
    progress("Making a throwaway cluster CA")
    openssl.make_ca(ca_cert, ca_key, "usercert-demo-ca", days=30)
    admin = _admin_kubeconfig(directory, ca_cert)
    request = issuing.CreateRequest(
        user="alice", groups=("developers",), out_dir=os.path.join(directory, "clients"), days=7,
        key_type="ecdsa", signing=SignerOptions(kind="local", ca_cert=ca_cert, ca_key=ca_key), kubeconfig=admin)
    credential = issuing.create(request, progress)
    progress("Inspecting the result")
    report = inspection.inspect(credential.kubeconfig_path, request.out_dir, ca_cert)
    return DemoResult(directory, credential, report)


def _scratch(directory):
    if directory is None:
        return tempfile.mkdtemp(prefix="usercert-demo-")
    if os.path.exists(directory) and os.listdir(directory):
        raise OutputExists(f"{directory} is not empty", hint="give an empty or new folder to --dir")
    ensure_private_dir(directory)
    return directory


def _admin_kubeconfig(directory, ca_cert):
    """What an admin's ~/.kube/config would say about the (pretend) cluster."""
    with open(ca_cert, "rb") as handle:
        endpoint = kubeconfig.ClusterEndpoint(name="demo", server=DEMO_SERVER, ca_pem=handle.read())
    config = kubeconfig.build_user_kubeconfig(endpoint, "demo-admin", b"", None)
    config["users"] = [{"name": "demo-admin", "user": {}}]  # the demo never talks to a cluster
    path = os.path.join(directory, "admin.kubeconfig")
    write_private(path, kubeconfig.dump(config))
    return path
