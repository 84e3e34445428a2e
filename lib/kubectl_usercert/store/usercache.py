"""Small facts remembered between runs (which openssl a binary is), in the user's cache folder.

`${XDG_CACHE_HOME:-~/.cache}/kubectl-usercert/` is used only when it is safe: owned by the
effective user and writable by nobody else. Under `sudo -E` (root with another user's HOME) or
in a shared folder nothing is read or written, and the fact is simply found out again. Each fact
is tied to the identity of the file it is about (path, size, mtime), so an upgrade is noticed.
"""

import json
import os
import tempfile

from . import ownership

CACHE_NAME = "kubectl-usercert"


def cache_dir(create=False):
    """The cache folder, or None where it cannot be kept safely (or does not exist and create is False)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(root, CACHE_NAME)
    if _private(folder):
        return folder
    if not create or os.path.lexists(folder):
        return None
    try:
        if not os.path.lexists(root) and _ours(os.path.dirname(os.path.abspath(root))):
            os.mkdir(root, 0o700)
        if not _ours(root):
            return None
        os.mkdir(folder, 0o700)
    except OSError:
        return None
    return folder if _private(folder) else None


def _ours(path, closed_to=ownership.WRITABLE_BY_OTHERS):
    """A real folder (no link) of the effective user (root's own under sudo -E is not the user's),
    that nobody else may write (or, with OPEN_TO_OTHERS, even read): the one checker, ownership."""
    return ownership.is_own_folder(path, closed_to, owners=(os.geteuid(),))


def _private(path):
    return _ours(path, ownership.OPEN_TO_OTHERS)


def _identity(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return f"{os.path.realpath(path)}|{info.st_size}|{info.st_mtime_ns}"


def _load(folder, name):
    path = os.path.join(folder, name + ".json")
    try:
        if os.lstat(path).st_uid != os.geteuid():
            return {}
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered(name, about):
    """What was remembered as `name` about the file `about`, or None."""
    folder, identity = cache_dir(), _identity(about)
    if folder is None or identity is None:
        return None
    value = _load(folder, name).get(identity)
    return value if isinstance(value, str) else None


def remember(name, about, value):
    """Remember `value` as `name` for the file `about`; silently nothing where that is not safe."""
    folder, identity = cache_dir(create=True), _identity(about)
    if folder is None or identity is None:
        return
    data = _load(folder, name)
    if data.get(identity) == value:
        return
    data = {key: kept for key, kept in data.items() if os.path.exists(key.split("|")[0])}
    data[identity] = value
    temporary = None
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temporary, os.path.join(folder, name + ".json"))
    except OSError:
        if temporary and os.path.exists(temporary):
            os.unlink(temporary)
