"""`kubectl usercert credential --credential USER@CLUSTER`: a kubectl credential plugin (client-go's
exec protocol, client.authentication.k8s.io/v1), written by `import --exec` and `renew --self
--exec` as the user of a context:

    exec: {apiVersion: client.authentication.k8s.io/v1, command: kubectl-usercert,
           args: [credential, --credential, USER@CLUSTER], interactiveMode: Never, provideClusterInfo: false}

Each call prints an ExecCredential holding the credential's certificate and key from the person's
store, and nothing else, on stdout. Once less than renewBefore (state.json) is left, it starts the
self-renewal in the background (`kubectl-usercert renew --self --credential NAME --background`,
detached: its own session, no stdin or stdout, stderr into the credential's renewal.log) and
answers at once with the current certificate; the renewal replaces the certificate in the store
when it is approved, and the next call answers with the new one. One renewal at a time: this
call takes the credential's renewal lock and hands it to the renewal it starts (a call that finds
it held starts nothing), and after a failure the next one waits until the time renewal.json says.

expirationTimestamp tells a long-running client (kubectl --watch, a controller) when to ask again:
the moment the renewal is due, and within the renewal window a minute later (so it takes the new
certificate soon after it arrives), never after the certificate's notAfter. An expired certificate
with no renewal in the store is one line on stderr saying what to do, exit 1.

The credential is read from state.json, which holds the certificate and names its key: every
writer (import, renew --self, the renewal started here) replaces it in one rename after writing
the new key, so a run killed at any moment leaves a certificate with its own key, old or new.

It runs on every kubectl call, so it imports neither plumbum nor rich nor yaml (the launcher and
cli.main send `credential` here before loading anything else), reads the store with
store/credential_files.py, and starts the renewal with subprocess itself (process.py would load
plumbum): the budget is 50 ms, of which python alone takes 15.
"""

import base64
import json
import os
import sys
import time
from datetime import datetime, timezone

from .. import times

try:  # CPython's own SHA-256: hashlib would load OpenSSL's libcrypto first (3 ms of the 50)
    from _sha256 import sha256
except ImportError:
    try:
        from _sha2 import sha256  # (Python 3.12+)
    except ImportError:
        from hashlib import sha256
from ..errors import InvalidInput
from ..store import credential_files as files
from ..store.credential_files import StoreProblem

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
WAIT = "15m"  # how long a renewal in the background waits for approval (never past notAfter)
RECHECK_SECONDS = 60  # within the renewal window: how soon a long-running client asks again
_SAFE = set("abcdefghijklmnopqrstuvwxyz0123456789@:=+,-_.~")


class Refused(Exception):
    """What the user must know, as one line on stderr, and the exit code."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def main(argv=None, environ=None):
    """Entry point for `kubectl-usercert credential ARGS`: the ExecCredential on stdout, exit 0; or
    one line on stderr and a non-zero exit, with nothing on stdout."""
    environ = os.environ if environ is None else environ
    try:
        name = _credential_argument(list(sys.argv[2:] if argv is None else argv))
        answer = exec_credential(name, _api_version(environ), environ)
    except Refused as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.code
    except Exception as exc:  # a bug: one line, never a traceback in the middle of kubectl's output
        sys.stderr.write(f"error: kubectl-usercert credential: internal error: {exc!r}\n")
        return 1
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


def _credential_argument(args):
    """--credential NAME or --credential=NAME (kubectl's flag spellings), and nothing else."""
    name = None
    while args:
        arg = args.pop(0)
        if arg in ("--credential", "-credential") and args:
            name = args.pop(0)
        elif arg.startswith(("--credential=", "-credential=")):
            name = arg.split("=", 1)[1]
        else:
            raise Refused(
                f"credential takes --credential USER@CLUSTER, not {arg!r} (see: kubectl usercert "
                "credential --help)",
                2,
            )
    if not name:
        raise Refused("credential needs --credential USER@CLUSTER (the name in your store)", 2)
    return name


def _api_version(environ):
    """The version client-go asks for (KUBERNETES_EXEC_INFO), answered in the same version."""
    asked = environ.get("KUBERNETES_EXEC_INFO")
    if not asked:
        return API_VERSIONS[0]
    try:
        version = json.loads(asked).get("apiVersion")
    except (ValueError, AttributeError):
        version = None
    if version not in API_VERSIONS:
        raise Refused(
            f"kubectl asked for an ExecCredential of {version!r}; this plugin speaks "
            f"{' and '.join(API_VERSIONS)} (set exec.apiVersion to the first)",
            2,
        )
    return version


def exec_credential(name, api_version, environ, now=None):
    """The ExecCredential of credential `name` from the store, starting its renewal when due."""
    root = files.store_root(environ)
    folder = _credential_folder(root, name)
    state, cert_pem, key_pem = _read(root, folder, name)
    now = time.time() if now is None else now
    not_after = _timestamp(state.get("notAfter"), folder)
    renew_at = not_after - _seconds(state.get("renewBefore"), not_after - now)
    if now >= not_after:
        raise Refused(_expired(name, state, folder))
    if now >= renew_at:
        start_renewal(root, folder, name, environ, now)
        expires = min(not_after, now + RECHECK_SECONDS)
    else:
        expires = renew_at
    return {
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "status": {
            "clientCertificateData": cert_pem.decode("ascii"),
            "clientKeyData": key_pem.decode("ascii"),
            "expirationTimestamp": _iso(expires),
        },
    }


def _credential_folder(root, name):
    safe = name if set(name) <= _SAFE and not name.startswith(".") and len(name) <= 120 else None
    if safe is None:  # an unusual name: its folder as the store names it (slower, and rare)
        from ..store.layout import file_safe

        safe = file_safe(name)
    return os.path.join(root, "credentials", safe)


def _read(root, folder, name):
    """(state, certificate PEM, key PEM), each checked: the store and its files the runner's own,
    the state a JSON object describing exactly this certificate, the key named by the state."""
    hint = f"import it again (kubectl usercert import BUNDLE --exec), or renew it (kubectl usercert renew --self --credential {name})"
    try:
        if not os.path.lexists(folder):
            raise Refused(
                f'no credential "{name}" in your store ({root}): import its bundle with '
                "kubectl usercert import BUNDLE --exec (kubectl usercert list shows none of a person's)",
                2,
            )
        files.own_folder(root, follow=True)
        files.own_folder(os.path.join(root, "credentials"), files.OPEN_TO_OTHERS)
        files.own_folder(folder)
        state = _state(files.read_own(os.path.join(folder, "state.json")), folder, hint)
        if "certificate" in state:  # (one file, replaced in one step by every writer)
            cert_pem = state["certificate"]
            cert_pem = (
                cert_pem.encode() if isinstance(cert_pem, str) and cert_pem.isascii() else b""
            )
        else:  # a store written before state.json held the certificate
            cert_pem = files.read_own(os.path.join(folder, "cert.pem"))
        key = os.path.join(root, "keys", f"{state['keyFingerprint']}.key")
        files.own_folder(os.path.dirname(key), files.OPEN_TO_OTHERS)
        key_pem = files.read_own(key, files.OPEN_TO_OTHERS)
    except StoreProblem as exc:
        raise Refused(f"the store of {name}: {exc}; {hint}", 2) from None
    if _fingerprint(cert_pem) != str(state.get("fingerprintSHA256") or "").upper():
        raise Refused(f"{folder}: its certificate is not the one its state.json describes; {hint}")
    if b"PRIVATE KEY-----" not in key_pem or not key_pem.isascii():
        raise Refused(f"{key} is not a PEM private key; {hint}")
    return state, cert_pem, key_pem


def _state(data, folder, hint):
    try:
        state = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        state = None
    fingerprint = state.get("keyFingerprint") if isinstance(state, dict) else None
    if not (
        isinstance(fingerprint, str)
        and len(fingerprint) == 64
        and set(fingerprint) <= set("0123456789abcdef")
    ):
        raise Refused(f"{folder}/state.json is damaged (not the state this tool writes); {hint}")
    return state


def _fingerprint(cert_pem):
    """The certificate's SHA-256 as openssl prints it (AB:CD:...), from its one PEM block."""
    lines = cert_pem.strip().splitlines()
    if (
        len(lines) < 3
        or lines[0] != b"-----BEGIN CERTIFICATE-----"
        or lines[-1] != b"-----END CERTIFICATE-----"
    ):
        return None
    try:
        digest = sha256(base64.b64decode(b"".join(lines[1:-1]), validate=True)).hexdigest()
    except ValueError:
        return None
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2)).upper()


def _timestamp(text, folder):
    """Seconds since the epoch of a time as the store writes it (2026-12-03T15:04:05Z)."""
    try:
        return times.parse_iso(text).timestamp()
    except (TypeError, ValueError):
        raise Refused(f"{folder}/state.json is damaged (notAfter {text!r} is not a time)") from None


def _seconds(text, lifetime_left):
    """renewBefore (30m, 8h, 20d as the store writes it) in seconds; a third of what is left when
    it is missing or unreadable."""
    try:
        return times.parse_duration(text, "renewBefore", default_unit="m").total_seconds()
    except (TypeError, InvalidInput):
        return max(lifetime_left, 0) / 3


def _iso(seconds):
    return times.iso(datetime.fromtimestamp(int(seconds), timezone.utc))


def _expired(name, state, folder):
    record = files.read_record(folder)
    user, groups = str(state.get("user") or "USER"), state.get("groups") or []
    ask = " ".join([user, *map(str, groups)]) if isinstance(groups, list) else user
    last = record.get("message") if record.get("outcome") == "failed" else None
    said = f" (its last renewal: {last})" if isinstance(last, str) and last else ""
    return (
        f"the certificate of {name} expired at {state.get('notAfter')} and no renewal was approved "
        f"in time{said}: make a new request with `kubectl usercert request {ask}`, have your "
        "cluster admin sign it, then `kubectl usercert import kubeconfig --exec`"
    )


def start_renewal(root, folder, name, environ, now):
    """Start `renew --self --credential NAME --background` detached, unless one runs (its lock is
    held) or the last one failed and its retry time has not come. Never delays the answer, and
    never writes to stdout or stderr (kubectl shows both): what the renewal says goes to its log."""
    retry = files.read_record(folder).get("retryAfter")
    if isinstance(retry, str):
        try:
            if now < _timestamp(retry, folder):
                return
        except Refused:
            pass
    try:
        lock = files.try_lock(folder)
    except StoreProblem:
        return
    if lock is None:
        return  # a renewal is running
    log = files.open_log(folder)
    try:
        import subprocess

        if log is not None:
            os.write(log, f"{_iso(now)} starting the renewal of {name}\n".encode())
        child = {k: v for k, v in environ.items() if k != "KUBERNETES_EXEC_INFO"}
        child.update({files.LOCK_FD_VARIABLE: str(lock), "NO_COLOR": "1"})
        subprocess.Popen(
            [*_program(), "renew", "--self", "--credential", name, "--background", "--wait", WAIT],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # kubectl reads stdout until every writer has closed it
            stderr=log if log is not None else subprocess.DEVNULL,
            pass_fds=(lock,),
            start_new_session=True,  # not stopped with kubectl's process group (Ctrl-C)
            cwd=root,
            env=child,
        )
    except OSError as exc:
        if log is not None:
            os.write(log, f"{_iso(now)} could not start the renewal: {exc.strerror}\n".encode())
    finally:
        os.close(lock)  # the renewal holds it now (the same open file), or nobody does
        if log is not None:
            os.close(log)


def _program():
    """How this very kubectl-usercert runs: the launcher, the installed script or the zipapp."""
    program = os.path.abspath(sys.argv[0])
    if os.path.basename(program) == "__main__.py":
        return [sys.executable, "-m", "kubectl_usercert"]
    return [sys.executable, program]
