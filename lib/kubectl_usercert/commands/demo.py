"""`demo`: a newcomer's first run with no cluster at hand.

A throwaway CA and an admin kubeconfig in a scratch folder stand in for a cluster; a user is then
issued through the same operation `create` uses (operations/issue.py), and inspected.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from .. import signals
from ..cluster import user_kubeconfig
from ..cluster.endpoint import ClusterEndpoint
from ..cluster.kubectl import Kubectl
from ..errors import InvalidInput, OutputExists
from ..operations.issue import checked_subject, endpoint, issue_user
from ..output.results import DemoResult, Issued
from ..pki import openssl
from ..pki.keys import KeySpec
from ..pki.signers import SignerOptions
from ..pki.signers.chooser import choose_signer
from ..store import files, located

DEMO_SERVER = "https://127.0.0.1:6443"


@dataclass(frozen=True, eq=False, repr=False)
class DemoRequest:
    directory: Optional[str] = None  # default: a new temporary folder


def demo(request, progress=lambda _message: None):
    """The rehearsal; interrupted or failed, it removes what it wrote (a throwaway CA key among it),
    so "nothing was written" is then true."""
    directory = made = None
    try:
        with signals.critical():  # a signal waits until the folder is known, so that it is removed
            directory, made = _scratch(request.directory)
        return _rehearse(directory, progress)
    except BaseException:
        if directory is not None:
            _remove(directory, made)
        raise


def _rehearse(directory, progress):
    ca_cert, ca_key = os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key")
    progress("Making a throwaway cluster CA")
    openssl.make_ca(ca_cert, ca_key, "usercert-demo-ca", days=30)
    admin = Kubectl(kubeconfig=_admin_kubeconfig(directory, ca_cert))
    key = KeySpec("ecdsa")
    subject, warnings = checked_subject("alice", ["developers"], key=key)
    signer = choose_signer(
        SignerOptions(kind="local", ca_cert=ca_cert, ca_key=ca_key, kubectl=admin), subject
    )
    found = endpoint(admin, None, signer, warnings)
    out_dir = os.path.join(directory, "clients")
    credential = issue_user(
        subject=subject,
        signer=signer,
        endpoint=found,
        out_dir=out_dir,
        lifetime=timedelta(days=7),
        key=key,
        warnings=warnings,
        progress=progress,
    )
    progress("Inspecting the result")
    inspection = located.read(located.find(credential.kubeconfig, out_dir), ca_cert)
    return DemoResult(directory, Issued(credential), inspection)


def _scratch(directory):
    """(the folder to work in, the outermost folder this run made for it, or None)."""
    if directory is None:
        made = tempfile.mkdtemp(prefix="usercert-demo-")
        return made, made
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise InvalidInput(
            f"{directory} is not a folder", hint="give an empty or new folder to --dir"
        )
    if os.path.isdir(directory) and os.listdir(directory):
        raise OutputExists(f"{directory} is not empty", hint="give an empty or new folder to --dir")
    made = files.ensure_dir(directory, "--dir")
    return directory, made[0] if made else None


def _remove(directory, made):
    """What the rehearsal wrote: the folder it made, else (an empty --dir given) what is in it now."""
    with signals.critical():  # a second signal waits: no CA key is left half removed
        if made:
            shutil.rmtree(made, ignore_errors=True)
        else:
            for name in os.listdir(directory):
                path = os.path.join(directory, name)
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
        signals.retract(directory)


def _admin_kubeconfig(directory, ca_cert):
    """What an admin's ~/.kube/config would say about the (pretend) cluster."""
    endpoint = ClusterEndpoint(name="demo", server=DEMO_SERVER, ca_pem=files.read_bytes(ca_cert))
    config = user_kubeconfig.build(endpoint, "demo-admin", b"", None)
    config["users"] = [{"name": "demo-admin", "user": {}}]  # the demo never talks to a cluster
    path = os.path.join(directory, "admin.kubeconfig")
    files.write_private(path, user_kubeconfig.dump(config))
    return path
