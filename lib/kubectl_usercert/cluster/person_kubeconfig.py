"""The person's own kubeconfig, changed as kubectl changes it: the file kubectl writes to, a cluster,
a user and a context merged in while every other entry and field stays as it was, written whole
(a temporary file renamed over it, mode 0600) under kubectl's own lock (`FILE.lock`).

What this writes holds the person's private key, so the file and its folder must be the person's
own: a file another user can write (or a folder they can write into, unless sticky as /tmp is) is
refused, and a link is followed only to a file that passes the same checks (kubectl follows it too;
renaming over the link would silently replace it with a file).
"""

import copy
import fcntl
import os
import socket
import stat
import time
from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import InvalidInput, OutputExists, UsercertError
from ..output import yamltext
from ..store import files, ownership
from .kubeconfig import (
    CLUSTER_FIELDS,
    CONTEXT_FIELDS,
    USER_FIELDS,
    kubeconfig_paths,
    named_entries,
    read_document,
)

_FIELDS = {"clusters": CLUSTER_FIELDS, "users": USER_FIELDS, "contexts": CONTEXT_FIELDS}
LOCK_WAIT_SECONDS = 5.0


def write_target(explicit=None, environ=None):
    """The file kubectl's `config set-*` writes to (client-go's PathOptions.GetDefaultFilename):
    --kubeconfig; else KUBECONFIG's only file, or its first file that exists, or its last; else
    ~/.kube/config."""
    environ = os.environ if environ is None else environ
    if explicit:
        return explicit
    listed = [path for path in (environ.get("KUBECONFIG") or "").split(os.pathsep) if path]
    listed = list(dict.fromkeys(listed))
    if len(listed) == 1:
        return listed[0]
    for path in listed:
        if os.path.exists(path):
            return path
    if listed:
        return listed[-1]
    return os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".kube", "config")


@dataclass
class KubeconfigFile:
    """A kubeconfig about to change: the path as named, the file written (a link's target), the
    document, and its bytes before (None: it does not exist yet); `alongside`: [(path, document)]
    of the other files kubectl reads with it (KUBECONFIG's), after it, so that a name added here
    would hide theirs."""

    shown: str
    path: str
    document: dict
    original: Optional[bytes]
    alongside: Tuple[Tuple[str, dict], ...] = ()


def open_target(explicit=None):
    """The file kubectl writes to (`write_target`), opened for change, with the other files of
    KUBECONFIG that kubectl reads with it (none with --kubeconfig: kubectl then reads that alone)."""
    shown = write_target(explicit)
    others = () if explicit else [p for p in kubeconfig_paths() if not _same_file(p, shown)]
    return open_for_change(shown, others)


def _same_file(path, other):
    try:
        return os.path.samefile(path, other)
    except OSError:
        return os.path.abspath(path) == os.path.abspath(other)


def open_for_change(shown, alongside=()):
    """The kubeconfig at `shown`, checked to be the runner's own, read and type-checked as kubectl
    reads it (a file kubectl refuses is refused, never rewritten); the files `alongside` are read
    (never written) for the names they define."""
    path = _followed(shown)
    _check_folder(os.path.dirname(os.path.abspath(path)) or ".", shown)
    others = tuple((other, _read_checked(other)) for other in alongside)
    if not os.path.lexists(path):
        return KubeconfigFile(shown, path, {"apiVersion": "v1", "kind": "Config"}, None, others)
    said = ownership.problem(path)
    if said:
        raise _untrusted(shown, path, said)
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise InvalidInput(f"the kubeconfig {shown} is not a file", hint="name a kubeconfig file")
    original = files.read_bytes(path)
    return KubeconfigFile(shown, path, _read_checked(path, shown), original, others)


def _read_checked(path, shown=None):
    document = read_document(path)
    for kind, fields_of in _FIELDS.items():
        named_entries(document, kind, fields_of, shown or path)
    return document


def _followed(shown):
    if not os.path.islink(shown):
        return shown
    target = os.path.realpath(shown)
    if not os.path.exists(target):
        raise InvalidInput(
            f"the kubeconfig {shown} is a link to {os.readlink(shown)}, which does not exist",
            hint="point the link at your kubeconfig, or pass --kubeconfig FILE",
        )
    return target


def _check_folder(folder, shown):
    """The folder the file is renamed into: the runner's (or root's), and writable by nobody else
    unless sticky (then nobody else can rename or remove the runner's file in it)."""
    probe = folder
    while not os.path.exists(probe):  # a folder still to make: its nearest existing parent
        probe = os.path.dirname(probe)
    info = os.stat(probe)
    if info.st_uid not in (os.geteuid(), 0):
        said = ownership.problem(probe, follow=True)
    elif info.st_mode & ownership.WRITABLE_BY_OTHERS and not info.st_mode & stat.S_ISVTX:
        said = ownership.problem(probe, follow=True)
    else:
        return
    raise _untrusted(shown, probe, said, "the folder of the kubeconfig")


def _untrusted(shown, path, said, what="the kubeconfig"):
    target = "" if path == shown else f" ({path})"
    return InvalidInput(
        f"{what} {shown}{target} {said}: it will hold your private key, so it must be yours and "
        "writable only by you",
        hint=f"check it, then: chmod go-w {path} (or pass --kubeconfig FILE of your own)",
    )


def entry(document, kind, name):
    """The body of the `kind` entry named `name` (None if there is none)."""
    for item in document.get(kind) or []:
        if item.get("name") == name:
            return item.get(kind[:-1]) or {}
    return None


def defined(kubeconfig, kind, name):
    """The body kubectl finds for the `kind` entry `name`: the file's own, else that of the first
    file alongside that defines it (None if none does)."""
    for document in [kubeconfig.document] + [other for _, other in kubeconfig.alongside]:
        body = entry(document, kind, name)
        if body is not None:
            return body
    return None


def _defined_alongside(kubeconfig, kind, name):
    """(path, body) of the first file alongside that defines the entry, or None."""
    for path, document in kubeconfig.alongside:
        body = entry(document, kind, name)
        if body is not None:
            return path, body
    return None


def merged(kubeconfig, entries, *, force=False, current=None, only_if_no_current=False):
    """(the document with `entries` merged in, [what --force replaced]). `entries`: (kind, name,
    body) for clusters, users and contexts. An entry of the same name that is identical is kept as
    it is; one that differs is refused unless `force`. `current`: the new current-context (with
    `only_if_no_current`, only when the kubeconfig has none: kubectl would use nothing else)."""
    document = copy.deepcopy(kubeconfig.document)
    replaced = []
    for kind, name, body in entries:
        items = document.get(kind) or []
        found = next((item for item in items if item.get("name") == name), None)
        elsewhere = None if found else _defined_alongside(kubeconfig, kind, name)
        if elsewhere and elsewhere[1] == body:
            continue  # (kubectl finds it there)
        if elsewhere:
            # Added here, it would hide that file's entry from every context that names it.
            if not force:
                raise OutputExists(
                    f'{elsewhere[0]} has another {kind[:-1]} named "{name}" (kubectl reads it '
                    f"with {kubeconfig.shown}, where one added would hide it)",
                    hint=f"pass --force to add yours anyway (it then wins; a backup of "
                    f"{kubeconfig.shown} is kept), or remove theirs: kubectl config "
                    f"delete-{kind[:-1]} --kubeconfig {elsewhere[0]} {name}",
                )
            replaced.append(f"{kind[:-1]} {name} (of {elsewhere[0]})")
        if found is None:
            document[kind] = items + [{"name": name, kind[:-1]: body}]
        elif (found.get(kind[:-1]) or {}) != body:
            if not force:
                raise OutputExists(
                    f'the kubeconfig {kubeconfig.shown} has another {kind[:-1]} named "{name}"',
                    hint="pass --force to replace it (a backup of the file is kept), or remove "
                    f"it first: kubectl config delete-{kind[:-1]} {name}",
                )
            found[kind[:-1]] = body
            replaced.append(f"{kind[:-1]} {name}")
    has_current = document.get("current-context") or any(
        other.get("current-context") for _, other in kubeconfig.alongside
    )
    if current and not (only_if_no_current and has_current):
        document["current-context"] = current
    return document, replaced


def write(kubeconfig, entries, *, force=False, current=None, only_if_no_current=False, backup=True):
    """Merge `entries` (as `merged` does) into the kubeconfig as it is now and write it whole (mode
    0600), under kubectl's lock. The file is read again under the lock: what kubectl changed since
    `open_for_change` (the person may run it while a request waits for approval) is kept, never
    written over with the copy read before. With `backup`, when an entry was replaced, the file as
    it was is kept first as FILE.usercert-backup-STAMP. The backup's path, or None."""
    files.ensure_dir(os.path.dirname(os.path.abspath(kubeconfig.path)), "--kubeconfig")
    with _kubectl_lock(kubeconfig.shown):
        now = open_for_change(kubeconfig.shown, [path for path, _ in kubeconfig.alongside])
        document, replaced = merged(
            now, entries, force=force, current=current, only_if_no_current=only_if_no_current
        )
        saved = None
        if backup and replaced and now.original is not None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            saved = f"{now.path}.usercert-backup-{stamp}"
            if os.path.lexists(saved):
                saved += f"-{os.getpid()}"
            files.write_private(saved, now.original)
        files.replace_file(now.path, yamltext.dump(document), files.PRIVATE_FILE_MODE)
    return saved


class _kubectl_lock:
    """client-go's lock on a kubeconfig it changes: FILE.lock made with O_EXCL, removed after; so
    this and a `kubectl config set-*` never interleave their writes."""

    def __init__(self, path):
        self.path = f"{path}.lock"
        self.fd = None

    def __enter__(self):
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                self.fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                os.write(self.fd, self._mark().encode())
                return self
            except FileExistsError:
                if self._left_by_a_killed_run():
                    continue
                if time.monotonic() >= deadline:
                    raise UsercertError(
                        f"the kubeconfig is locked: {self.path} exists (kubectl is changing it, "
                        "or a run that was killed left it)",
                        hint=f"if no kubectl is running, remove it: rm {self.path}",
                    ) from None
                time.sleep(0.1)
            except OSError as exc:
                raise files.write_error(self.path, exc) from None

    @staticmethod
    def _mark(pid=None):
        return f"kubectl-usercert {socket.gethostname()} {pid or os.getpid()}\n"

    def _left_by_a_killed_run(self):
        """Remove the lock when one of this tool's runs on this machine left it and is gone (a
        SIGKILL); kubectl's own (empty) locks are never removed. Two runs that find it at once
        take turns (flock on the folder), so neither removes the lock the other has just made."""
        try:
            folder = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)
            with open(self.path, "rb") as held:
                words = held.read(200).decode("ascii", "replace").split()
            pid = int(words[2]) if len(words) == 3 else 0
            if pid <= 0 or self._mark(pid).split() != words:
                return False
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            os.unlink(self.path)
            return True
        except (OSError, ValueError):
            return False
        finally:
            os.close(folder)

    def __exit__(self, *_exc):
        os.close(self.fd)
        try:
            os.unlink(self.path)
        except OSError:
            pass
