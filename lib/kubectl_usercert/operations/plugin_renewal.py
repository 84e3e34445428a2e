"""What `renew --self` does for the credential plugin (cli/credential.py): one renewal of a credential
at a time, its outcome recorded where the plugin looks (renewal.json), and the cluster reached with
the store's own certificate and key when the kubeconfig's user is the plugin itself (kubectl would
otherwise run the plugin to renew the plugin's credential).

A renewal takes the credential's lock (store/credential_files.py): the one the plugin handed over
when it started this run in the background, else its own; a renewal already running is an error,
never a second request. Its outcome: renewed, or failed with the message and the time the plugin
may start the next one (a minute after the first failure, doubling up to an hour, so a person
without the right to renew, or an approver that is not running, does not get a request per kubectl
call).
"""

import json
import os
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from ..cluster import user_kubeconfig
from ..cluster.endpoint import resolve_endpoint
from ..cluster.kubectl import Kubectl
from ..errors import UsercertError
from ..store import credential_files, files
from ..times import iso

FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=1)


@contextmanager
def renewal_turn(store, name):
    """Hold the credential's renewal lock while the renewal runs, and record how it ended."""
    folder = store.credential_dir(name)
    try:
        lock = credential_files.inherited_lock(folder, os.environ)
        if lock is None:
            lock = credential_files.try_lock(folder)
    except credential_files.StoreProblem as exc:
        raise UsercertError(
            f"the renewal lock of {name}: {exc}", hint="remove it; it is made again"
        ) from None
    if lock is None:
        raise UsercertError(
            f"a renewal of {name} is running already (started by the credential plugin, or by "
            "another renew --self)",
            hint=f"its steps are in {os.path.join(folder, credential_files.LOG)}",
        )
    previous = credential_files.read_record(folder)
    started = _now()
    _record(folder, {"outcome": "running", "startedAt": iso(started), "pid": os.getpid()})
    try:
        yield
    except BaseException as exc:
        failures = int(previous.get("failures") or 0) if previous.get("outcome") == "failed" else 0
        wait = min(FIRST_RETRY * 2**failures, LAST_RETRY)
        message = getattr(exc, "message", None) or type(exc).__name__
        _record(
            folder,
            {
                "outcome": "failed",
                "startedAt": iso(started),
                "finishedAt": iso(_now()),
                "message": message.splitlines()[0][:300],
                "failures": failures + 1,
                "retryAfter": iso(_now() + wait),
            },
        )
        raise
    else:
        _record(
            folder, {"outcome": "renewed", "startedAt": iso(started), "finishedAt": iso(_now())}
        )
    finally:
        os.close(lock)


def _record(folder, record):
    try:
        files.replace_file(
            os.path.join(folder, credential_files.RECORD),
            json.dumps(record, indent=2) + "\n",
            files.PRIVATE_FILE_MODE,
        )
    except UsercertError:
        pass  # (the record only paces the plugin; the renewal's own outcome stands)


@contextmanager
def cluster_access(*, store, found, kubeconfig, timeout):
    """kubectl as the person, for the renewal of `found` (self_renew._credential_of): through a
    kubeconfig in the store's private scratch folder, with the store's certificate and key and the
    cluster of their context, read once. Never through their own kubeconfig while the renewal
    waits: kubectl rewrites that file in place (`kubectl config use-context` in another terminal),
    and a read in the middle of that finds no context."""
    endpoint = resolve_endpoint(kubeconfig or found["state"].get("kubeconfig"), found["context"])
    user = found["info"].common_name
    key_pem = store.read_key(found["state"].get("keyFingerprint") or "")
    with store.scratch() as folder:
        trial = os.path.join(folder, "kubeconfig")
        config = user_kubeconfig.build(endpoint, user, found["cert"], key_pem)
        files.write_private(trial, user_kubeconfig.dump(config))
        yield Kubectl(trial, user_kubeconfig.context_name(user, endpoint.name), None, timeout)


def _now():
    return datetime.now(timezone.utc).replace(microsecond=0)
