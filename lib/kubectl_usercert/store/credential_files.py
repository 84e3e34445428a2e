"""A credential's files in the person's store as the credential plugin reads them on every kubectl
call, and what its self-renewal keeps beside them in credentials/NAME/:

    renewal.lock    flock(2)ed by the one renewal running for this credential (the plugin takes it
                    and hands it to the renewal it starts, so two calls never start two renewals)
    renewal.json    the last renewal's outcome: when it started and ended, what happened, and when
                    the plugin may start the next one (a failure is retried later, not on every call)
    renewal.log     what the renewals started in the background said (steps and errors; never a key)

Standard library only, and little of it: the credential plugin imports this on every kubectl call,
where 50 ms is the whole budget (python alone takes 15). The checks are the store's (store/person.py
and ownership.py), made on the open descriptor: no link is followed, and a file or folder that is
not the runner's own, or that others can write (a key: read), is refused.
"""

import fcntl
import json
import os
import stat

STORE_DIR = "kubectl-usercert"
LOCK, RECORD, LOG = "renewal.lock", "renewal.json", "renewal.log"
LOCK_FD_VARIABLE = "USERCERT_RENEWAL_LOCK_FD"  # the lock a started renewal inherits
MAX_LOG_BYTES = 256 << 10  # beyond, the log starts again
MAX_READ = 1 << 20
WRITABLE_BY_OTHERS, OPEN_TO_OTHERS = 0o022, 0o077


def store_root(environ=None):
    """${XDG_DATA_HOME:-~/.local/share}/kubectl-usercert, as install.sh places its virtualenv."""
    environ = os.environ if environ is None else environ
    data = environ.get("XDG_DATA_HOME") or ""
    if not os.path.isabs(data):  # the XDG spec: a relative path is invalid and ignored
        data = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, STORE_DIR)


class StoreProblem(Exception):
    """A file or folder of the store that cannot be used, in words for one line of stderr."""


def own_folder(path, closed_to=WRITABLE_BY_OTHERS, follow=False):
    """Refuse `path` unless it is a folder of the runner's own (not a link unless `follow`)."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        raise StoreProblem(f"{path} does not exist") from None
    except OSError as exc:
        raise StoreProblem(f"{path} cannot be read ({exc.strerror})") from None
    _check(path, info, closed_to, stat.S_ISDIR, "a folder")


def read_own(path, closed_to=WRITABLE_BY_OTHERS, missing_ok=False):
    """The bytes of a file of the store, checked on its descriptor; None when missing and
    `missing_ok`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise StoreProblem(f"{path} does not exist") from None
    except OSError as exc:
        said = "is a symbolic link" if os.path.islink(path) else f"cannot be read ({exc.strerror})"
        raise StoreProblem(f"{path} {said}") from None
    with os.fdopen(fd, "rb") as handle:
        _check(path, os.fstat(fd), closed_to, stat.S_ISREG, "a file")
        data = handle.read(MAX_READ + 1)
    if len(data) > MAX_READ:
        raise StoreProblem(f"{path} is larger than 1 MiB")
    return data


def _check(path, info, closed_to, is_kind, kind):
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        raise StoreProblem(f"{path} is a symbolic link")
    if not is_kind(info.st_mode):
        raise StoreProblem(f"{path} is not {kind}")
    if info.st_uid not in (os.geteuid(), 0):
        raise StoreProblem(f"{path} is owned by uid {info.st_uid}, not you")
    if mode & closed_to:
        raise StoreProblem(f"{path} is open to others (mode {mode:04o}): chmod go-rwx {path}")


def read_record(folder):
    """renewal.json as a dict ({} when there is none, or it is not a JSON object)."""
    try:
        data = read_own(os.path.join(folder, RECORD), missing_ok=True)
        record = json.loads(data.decode("utf-8")) if data else {}
    except (StoreProblem, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return record if isinstance(record, dict) else {}


def try_lock(folder):
    """The descriptor of the credential's renewal lock, held (flock, exclusive); None when another
    process holds it. Refused (StoreProblem) when the lock file is not the runner's own."""
    path = os.path.join(folder, LOCK)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        said = (
            "is a symbolic link" if os.path.islink(path) else f"cannot be opened ({exc.strerror})"
        )
        raise StoreProblem(f"{path} {said}") from None
    try:
        _check(path, os.fstat(fd), OPEN_TO_OTHERS, stat.S_ISREG, "a file")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def inherited_lock(folder, environ):
    """The lock the credential plugin handed over (its descriptor named in LOCK_FD_VARIABLE), when
    it is this folder's lock file and held; else None."""
    named = environ.pop(LOCK_FD_VARIABLE, "")
    if not named.isdigit():
        return None
    fd = int(named)
    try:
        held, on_disk = os.fstat(fd), os.lstat(os.path.join(folder, LOCK))
        if (held.st_dev, held.st_ino) != (on_disk.st_dev, on_disk.st_ino):
            return None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # (the same open file: it holds it already)
    except OSError:
        return None
    os.set_inheritable(fd, False)
    return fd


def open_log(folder):
    """renewal.log, for a renewal started in the background to write to (appended; started again
    when large). A descriptor, or None when it cannot be opened safely."""
    path = os.path.join(folder, LOG)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    os.fchmod(fd, 0o600)
    if info.st_size > MAX_LOG_BYTES:
        os.ftruncate(fd, 0)
    return fd
