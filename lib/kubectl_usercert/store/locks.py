"""One run at a time per user: a lock file in OUT_DIR/.usercert/locks/ held while a user's folder is
built, renewed or revoked, so parallel runs for one user wait for each other instead of racing
(parallel runs for different users do not wait at all).

The lock is flock(2) on a file that is removed when released, so nothing is left behind. A
waiter may have opened the file just before it was removed: after locking, it checks that the
file it holds is still the one on disk, and tries again if not.
"""

import errno
import fcntl
import os
from contextlib import contextmanager

from ..errors import UsercertError
from . import files, ownership
from .files import PRIVATE_DIR_MODE, remove_if_empty, write_error
from .layout import UserFiles, locks_dir, records_dir


@contextmanager
def user_operation(out_dir, user, progress, dry_run=False):
    """The user's files, with the out-dir made (and removed again if this run leaves it empty),
    the user's lock held, and what killed runs left behind for this user cleared away; for a dry run
    only the files: it reads, and takes no lock, makes nothing, clears nothing. Every operation on
    a user (issue, renew, revoke) runs inside one."""
    user_files = UserFiles.for_user(out_dir, user)
    if dry_run:
        yield user_files
        return
    with files.made_dirs(out_dir):
        with user_lock(out_dir, user_files.stem, progress, what=user):
            files.remove_stale(
                out_dir, lambda stem: stem == user_files.stem or is_free(out_dir, stem)
            )
            yield user_files


@contextmanager
def user_lock(out_dir, stem, progress=lambda _message: None, what=None):
    """Hold the lock of the user whose folder is `stem`; say so while waiting for it.

    Every change to a user passes here, so this is where state another user could have planted is
    refused: the out-dir, its records and the user's folder must be the runner's own (ownership)."""
    ownership.require(
        ownership.out_dir_problems(out_dir)
        + ownership.user_folder_problems(os.path.join(out_dir, stem))
    )
    path = os.path.join(locks_dir(out_dir), stem + ".lock")
    made = _folders(out_dir)
    fd = None
    try:
        fd = _acquire(path, progress, what or stem)
        yield
    finally:
        if fd is not None:
            _release(path, fd)
        remove_if_empty(made)


def is_free(out_dir, stem):
    """True when no run holds the user's lock (so its staging folders are left over from a killed run)."""
    path = os.path.join(locks_dir(out_dir), stem + ".lock")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _folders(out_dir):
    """Make .usercert and .usercert/locks as needed; return those made (for removal if left empty)."""
    made = []
    for folder in (records_dir(out_dir), locks_dir(out_dir)):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
            made.append(folder)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise UsercertError(
                    f"{folder} is not a folder",
                    hint="move it away; the tool keeps its records there",
                ) from None
        except OSError as exc:
            remove_if_empty(made)
            raise write_error(folder, exc) from None
    return made


def _acquire(path, progress, who):
    told = False
    while True:
        try:
            fd = os.open(
                path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC, 0o600
            )
        except FileNotFoundError:  # the folder went with another run's release: make it again
            try:
                os.makedirs(os.path.dirname(path), PRIVATE_DIR_MODE, exist_ok=True)
            except OSError as exc:
                raise write_error(os.path.dirname(path), exc) from None
            continue
        except OSError as exc:
            raise write_error(path, exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if not told:
                    progress(f"Waiting for another kubectl-usercert run on {who} to finish")
                    told = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                _write_pid(fd, path)
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _write_pid(fd, path):
    """Who holds the lock, for a person looking; a full disk here is one line, like any other write."""
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except OSError as exc:
        try:
            os.unlink(path)  # still holding it: a waiter sees it is stale and retries
        except OSError:
            pass
        raise write_error(path, exc) from None


def _same_file(fd, path):
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _release(path, fd):
    try:
        os.unlink(path)  # still holding it: a waiter that opened it sees it is stale and retries
    except OSError:
        pass
    os.close(fd)
    remove_if_empty([os.path.dirname(path)])
