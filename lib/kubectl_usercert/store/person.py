"""The person's own store: the keys they made, what they asked for with each, and the credentials
they imported. It is the source of truth on the person's side (a kubeconfig is a copy of it), so
`renew --self` and a credential plugin can serve from it.

    ${XDG_DATA_HOME:-~/.local/share}/kubectl-usercert/      (a relative XDG_DATA_HOME is ignored)
      keys/<SPKI-SHA256-HEX>.key           0600  private keys, named by their public key's SHA-256
      requests/<SPKI-SHA256-HEX>.json      what was requested with that key: user, groups, key, time
      credentials/<NAME>/                  one per identity and cluster: NAME is USER@CLUSTER, file-safe
          state.json                       THE credential: its certificate (PEM), the fingerprint
                                           of its key, cluster, validity, lifetime, context...
          cert.pem                         a copy of state.json's certificate, for people and openssl
          previous/<serial>.crt            the one before, kept while a renewal swaps it

install.sh's virtualenv lives in the same folder; the store keeps to its own sub-folders. Every
write is whole or nothing (files.replace_file). A credential changes in one rename: state.json
holds the certificate and names its key, so a run killed at any moment (or a full disk) leaves
the old certificate with its key or the new one with its key, never one with the other's. A new
key is written (under its own name) before the state that names it, and an old key removed only
after the state stops naming it. cert.pem is written after state.json and never read by the tool
(but from a store written before state.json held the certificate); a copy a killed run left
behind is brought up to date by the next run that opens the store. The store is trusted only when it is the runner's
own, as the out-dir is (ownership): the folder is the runner's and not writable by others, its
sub-folders and keys are closed to others, and no link inside it is followed.
"""

import json
import os
import re
import shlex
import shutil
import stat
import tempfile
from contextlib import contextmanager

from ..errors import InvalidInput, UsercertError
from . import files, ownership
from .credential_files import STORE_DIR, store_root  # noqa: F401 (the store's place)
from .layout import file_safe
from .leftovers import clear_temporary

SUBFOLDERS = ("keys", "requests", "credentials")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_SCRATCH = re.compile(r"\.scratch-(\d+)-\w+")
MAX_RECORD_BYTES = 1 << 20


def credential_name(user, cluster):
    """The folder of a credential in credentials/: USER@CLUSTER, file-safe."""
    return file_safe(f"{user}@{cluster}")


class PersonStore:
    """The store at `root`, checked to be the runner's own when opened."""

    def __init__(self, root):
        self.root = root

    @classmethod
    def open(cls, environ=None):
        """The store, made (folders 0700) where missing, and checked."""
        store = cls(store_root(environ))
        _refuse_root_in_a_home(store.root)
        files.ensure_dir(store.root, "XDG_DATA_HOME")
        _refuse_swappable(store.root)
        _require(("the store", store.root, ownership.problem(store.root, follow=True)))
        for name in SUBFOLDERS:
            folder = os.path.join(store.root, name)
            try:
                os.mkdir(folder, files.PRIVATE_DIR_MODE)
                os.chmod(folder, files.PRIVATE_DIR_MODE)
            except FileExistsError:
                pass
            except OSError as exc:
                raise files.write_error(folder, exc) from None
            _require(("the store's folder", folder, _closed(folder)))
        store._clear_scratch()
        store._refresh_copies()
        return store

    # --- keys -----------------------------------------------------------------------------

    def key_path(self, fingerprint):
        if not _FINGERPRINT.fullmatch(fingerprint or ""):
            raise ValueError(f"not a key fingerprint: {fingerprint!r}")
        return os.path.join(self.root, "keys", f"{fingerprint}.key")

    def read_key(self, fingerprint):
        """The private key (PEM bytes) whose public key has this fingerprint; None when the store
        holds none. A key file another user could read or write, or a link, is refused."""
        return _read_own(self.key_path(fingerprint), "the key", closed_to=ownership.OPEN_TO_OTHERS)

    def save_key(self, fingerprint, pem):
        files.replace_file(self.key_path(fingerprint), pem, files.PRIVATE_FILE_MODE)

    def remove_key(self, fingerprint):
        _unlink(self.key_path(fingerprint))

    def key_in_use(self, fingerprint, besides=None):
        """Whether a credential other than `besides` still uses the key (one key for several clusters)."""
        for name in self.credential_names():
            if (
                name != besides
                and (self.read_state(name) or {}).get("keyFingerprint") == fingerprint
            ):
                return True
        return False

    # --- requests -------------------------------------------------------------------------

    def request_path(self, fingerprint):
        self.key_path(fingerprint)  # (checks the name)
        return os.path.join(self.root, "requests", f"{fingerprint}.json")

    def save_request(self, fingerprint, record):
        files.replace_file(self.request_path(fingerprint), _json(record), files.PRIVATE_FILE_MODE)

    def read_request(self, fingerprint):
        """What was requested with this key ({user, groups, keyType, keySize, time}); None if nothing."""
        return _read_record(self.request_path(fingerprint))

    def remove_request(self, fingerprint):
        _unlink(self.request_path(fingerprint))

    # --- credentials ----------------------------------------------------------------------

    def credential_dir(self, name):
        return os.path.join(self.root, "credentials", name)

    def credential_names(self):
        try:
            return sorted(os.listdir(os.path.join(self.root, "credentials")))
        except OSError:
            return []

    def read_state(self, name):
        return _read_record(os.path.join(self.credential_dir(name), "state.json"))

    def read_certificate(self, name, state=None):
        """The credential's certificate (PEM bytes): the one its state.json holds (a store from
        before: its cert.pem); None when there is none."""
        state = self.read_state(name) if state is None else state
        if "certificate" in (state or {}):
            held = state["certificate"]
            if not (isinstance(held, str) and held.isascii()):
                raise InvalidInput(
                    f"the record {self.credential_dir(name)}/state.json holds no certificate",
                    hint="it was damaged: import the credential again",
                )
            return held.encode("ascii")
        return _read_own(os.path.join(self.credential_dir(name), "cert.pem"), "the certificate")

    def save_credential(self, name, cert_pem, state):
        """The credential's certificate and state, replaced in one step: state.json, which holds
        the certificate (the commit); then cert.pem, its copy (a full disk there fails nothing)."""
        folder = self.credential_dir(name)
        try:
            os.mkdir(folder, files.PRIVATE_DIR_MODE)
            os.chmod(folder, files.PRIVATE_DIR_MODE)
        except FileExistsError:
            _require(("the credential folder", folder, ownership.problem(folder)))
        except OSError as exc:
            raise files.write_error(folder, exc) from None
        state = {**state, "certificate": cert_pem.decode("ascii")}
        files.replace_file(
            os.path.join(folder, "state.json"), _json(state), files.PRIVATE_FILE_MODE
        )
        try:
            files.replace_file(os.path.join(folder, "cert.pem"), cert_pem, files.PUBLIC_FILE_MODE)
        except UsercertError:
            pass  # (only a copy: the next run that opens the store writes it)

    def keep_previous(self, name, serial, cert_pem):
        """The certificate a renewal replaces, kept until the new one is in place."""
        folder = os.path.join(self.credential_dir(name), "previous")
        os.makedirs(folder, files.PRIVATE_DIR_MODE, exist_ok=True)
        _require(("the folder", folder, ownership.problem(folder)))
        files.replace_file(os.path.join(folder, f"{serial}.crt"), cert_pem, files.PUBLIC_FILE_MODE)

    def is_previous(self, name, cert_pem):
        """Whether `cert_pem` is a certificate a renewal replaced and kept, not yet cleared."""
        folder = os.path.join(self.credential_dir(name), "previous")
        if not cert_pem or not os.path.isdir(folder) or os.path.islink(folder):
            return False
        return any(
            _read_own(os.path.join(folder, kept), "the previous certificate") == cert_pem
            for kept in os.listdir(folder)
            if kept.endswith(".crt")
        )

    def clear_previous(self, name):
        folder = os.path.join(self.credential_dir(name), "previous")
        if os.path.isdir(folder) and not os.path.islink(folder):
            shutil.rmtree(folder, ignore_errors=True)

    def restore(self, name, saved):
        """Put a credential back as `saved` (what `snapshot` returned) after a failed change: a
        credential that was not there before leaves no folder behind."""
        folder = self.credential_dir(name)
        for file_name, data in saved.items():
            path = os.path.join(folder, file_name)
            if data is None:
                _unlink(path)
            else:
                mode = (
                    files.PUBLIC_FILE_MODE if file_name == "cert.pem" else files.PRIVATE_FILE_MODE
                )
                files.replace_file(path, data, mode)
        if all(data is None for data in saved.values()):
            files.remove_if_empty([folder])

    def snapshot(self, name):
        """{file: bytes or None} of a credential's files, to restore them after a failed change;
        state.json with its certificate in it (a store from before kept it in cert.pem only), so
        that putting it back is one step too."""
        folder = self.credential_dir(name)
        saved = {
            file_name: _read_own(os.path.join(folder, file_name), "the file")
            for file_name in (
                "state.json",
                "cert.pem",
            )  # (put back in this order: the commit first)
        }
        state = self.read_state(name) if saved["state.json"] else None
        if state is not None and "certificate" not in state and saved["cert.pem"]:
            saved["state.json"] = _json({**state, "certificate": saved["cert.pem"].decode("ascii")})
        return saved

    def _refresh_copies(self):
        """cert.pem as state.json says, where a run killed between the two left the old copy; and
        the half-written temporary files a killed run left (a minute old: no run writes so long)."""
        folders = [os.path.join(self.root, sub) for sub in ("keys", "requests")]
        for name in self.credential_names():
            folders.append(self.credential_dir(name))
        for folder in folders:
            clear_temporary(folder)
        for name in self.credential_names():
            try:
                state = self.read_state(name)
                held = (state or {}).get("certificate")
                path = os.path.join(self.credential_dir(name), "cert.pem")
                if isinstance(held, str) and _read_own(path, "the copy") != held.encode():
                    files.replace_file(path, held.encode(), files.PUBLIC_FILE_MODE)
            except (UsercertError, UnicodeEncodeError):
                continue  # (a credential the tool cannot use is refused where it is used)

    # --- a private scratch folder ---------------------------------------------------------

    @contextmanager
    def scratch(self):
        """A 0700 folder inside keys/ for what holds a private key for a moment (a trial
        kubeconfig): never a system temporary folder. Removed after; a killed run's is removed by
        the next run that opens the store."""
        folder = tempfile.mkdtemp(
            prefix=f".scratch-{os.getpid()}-", dir=os.path.join(self.root, "keys")
        )
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _clear_scratch(self):
        keys = os.path.join(self.root, "keys")
        for name in os.listdir(keys):
            match = _SCRATCH.fullmatch(name)
            if match and not _alive(int(match.group(1))):
                shutil.rmtree(os.path.join(keys, name), ignore_errors=True)


def _refuse_root_in_a_home(root):
    """root (sudo -E) with another user's HOME would make keys that user cannot read, in their
    home: a person's keys are their own, so the store is never made by root for someone else."""
    if os.geteuid() != 0:
        return
    probe = root
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    owner = os.stat(probe).st_uid
    if owner != 0:
        raise InvalidInput(
            f"this runs as root, but the store {root} is in another user's folder (uid {owner})",
            hint="run it as that user, without sudo: the key is theirs",
        )


def _refuse_swappable(root):
    """The store is checked once a run, then used by its path: so nobody else may be able to swap
    the folder under that path. Its folder (and that of the folder a link leads to) must be the
    runner's or root's and writable by nobody else unless sticky (as /tmp: then nobody else can
    rename or remove what is the runner's in it), and a link that is the store must be the
    runner's own (another user's could be pointed elsewhere at any moment)."""
    info = os.lstat(root)
    if stat.S_ISLNK(info.st_mode) and info.st_uid not in (os.geteuid(), 0):
        raise InvalidInput(
            f"the store {root} is a link that {ownership.owner_name(info.st_uid)} (uid "
            f"{info.st_uid}) owns, to {os.readlink(root)}: they could point it elsewhere",
            hint=f"remove the link (rm {shlex.quote(root)}), or set XDG_DATA_HOME to a folder of "
            "your own",
        )
    for folder in dict.fromkeys(os.path.dirname(path) for path in (root, os.path.realpath(root))):
        info = os.stat(folder)
        sticky = info.st_mode & stat.S_ISVTX
        if info.st_uid not in (os.geteuid(), 0) or (
            info.st_mode & ownership.WRITABLE_BY_OTHERS and not sticky
        ):
            _require(("the folder of the store", folder, ownership.problem(folder, follow=True)))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _closed(path):
    return ownership.problem(path, closed_to=ownership.OPEN_TO_OTHERS)


def _require(found):
    what, path, said = found
    if not said:
        return
    quoted = path if re.fullmatch(r"[\w@%+=:,./-]+", path) else repr(path)
    if said.startswith("is a symbolic link"):
        raise InvalidInput(
            f"{what} {path} {said}: the store never follows a link",
            hint=f"remove the link (rm {quoted}) and run the command again",
        )
    fix = "chmod go-rwx" if "open by" in said else "chmod go-w"
    raise InvalidInput(
        f"{what} {path} {said}: your private keys live there, so it must be yours and closed "
        "to others",
        hint=f"check what is in it, then: {fix} {quoted} (and chown it to yourself)",
    )


def _read_own(path, what, closed_to=ownership.WRITABLE_BY_OTHERS):
    """The bytes of a file of the store, or None when it is not there; refused when it is not the
    runner's own (or is a link)."""
    said = ownership.problem(path, closed_to=closed_to)
    if said:
        _require((what, path, said))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {what} {path}: {exc.strerror}", hint="check the store"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        raise InvalidInput(
            f"{what} {path} is larger than 1 MiB", hint="it is not the tool's: move it away"
        )
    return data


def _read_record(path):
    data = _read_own(path, "the record")
    if data is None:
        return None
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        record = None
    if not isinstance(record, dict):
        raise InvalidInput(
            f"the record {path} is not a JSON object",
            hint="it was damaged: move it away and import again",
        )
    return record


def _json(record):
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
