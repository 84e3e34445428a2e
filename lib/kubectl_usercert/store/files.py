"""Files that are complete or absent: written whole and flushed, built aside, moved in one step.

A user's folder is assembled in a 0700 staging folder next to its destination (`.USER.xxxxxxxx.tmp`)
and renamed into place, so a failure, an interrupt or a full disk at any step leaves the
destination as it was. Every write is checked complete (a short write is a full disk) and
fsynced before the rename. Cleanup removes only what this run made: its staging folder, and a
folder it created only while it is still empty (`rmdir`), never a parent another run may be
writing into. What a SIGKILL leaves (a staging folder nobody holds the lock of) the next run
that takes that user's lock removes (`remove_stale`).
"""

import errno
import os
import shutil
import tempfile
from contextlib import contextmanager

from .. import signals
from ..errors import InvalidInput, OutputExists, UsercertError
from . import ownership
from .layout import STAGING

PRIVATE_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644  # certificates: public, but never writable by others whatever the umask
PRIVATE_DIR_MODE = 0o700


def write_all(fd, data):
    """os.write until everything is written; a write that makes no progress is a full disk."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def write_file(path, data, mode=PRIVATE_FILE_MODE):
    """Create `path` with `mode` whatever the umask, complete and on disk, or not at all."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.fchmod(fd, mode)
        write_all(fd, data)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        os.unlink(path)
        raise write_error(path, exc) from None
    os.close(fd)


def replace_file(path, data, mode=PRIVATE_FILE_MODE):
    """Put `data` at `path` whole or not at all: written into a temporary file beside it (mode `mode`
    whatever the umask), checked complete and fsynced, renamed over `path` in one step (a signal
    waits for it). Whoever reads `path` sees the old file or the new one, never half of either."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder, name = os.path.split(os.path.abspath(path))
    with signals.critical():
        try:
            fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise write_error(path, exc) from None
        try:
            try:
                os.fchmod(fd, mode)
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, path)
        except OSError as exc:
            _unlink_quietly(temporary)
            raise write_error(path, exc) from None
        except BaseException:
            _unlink_quietly(temporary)
            raise
        _fsync_dir(folder)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def write_private(path, data):
    write_file(path, data, PRIVATE_FILE_MODE)


def write_public(path, data):
    write_file(path, data, PUBLIC_FILE_MODE)


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def read_input(path, what, hint, limit=1 << 20):
    """A file the user pointed at, at most `limit` bytes: its bytes, or a one-line error naming it."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}", hint=hint) from None
    if len(data) > limit:
        raise InvalidInput(f"{what} {path} is larger than {limit >> 20 or 1} MiB", hint=hint)
    return data


def write_error(path, exc):
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UsercertError(
            f"cannot write {path}: the disk is full", hint="free some space and run it again"
        )
    if exc.errno == errno.EROFS:
        return InvalidInput(
            f"cannot write {path}: the file system is read-only", hint="choose another --out-dir"
        )
    return UsercertError(
        f"cannot write {path}: {exc.strerror}", hint="check the folder's permissions"
    )


def refuse_existing(destination, force):
    if os.path.lexists(destination) and not force:
        raise OutputExists(
            f"{destination} already exists",
            hint="pass --force to replace it, or choose another --out-dir",
        )


def ensure_dir(path, what="--out-dir"):
    """Make `path` (and missing parents) as 0700 folders; return those made, outermost first.

    An existing folder is used as it is (its mode is the user's business); a file, a dangling
    link or an unwritable place is a one-line error.
    """
    path = os.path.abspath(path)
    missing = []
    probe = path
    while not os.path.isdir(probe):
        # isdir again: another run (or thread) may have made it between the two looks
        if os.path.lexists(probe) and not os.path.isdir(probe):
            raise InvalidInput(
                f"{probe} is not a folder ({_kind(probe)})", hint=f"choose another {what}"
            )
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    made = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
            made.append(folder)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise InvalidInput(
                    f"{folder} is not a folder", hint=f"choose another {what}"
                ) from None
            continue
        except OSError as exc:
            remove_if_empty(made)
            raise write_error(folder, exc) from None
        os.chmod(folder, PRIVATE_DIR_MODE)
    return made


def _kind(path):
    if os.path.islink(path):
        return (
            "a link to "
            + os.readlink(path)
            + ("" if os.path.exists(path) else ", which does not exist")
        )
    return "a file"


def remove_if_empty(folders):
    """rmdir the folders this run made, innermost first, while they are empty: anything another
    run put there in the meantime keeps them."""
    for folder in reversed(list(folders)):
        try:
            os.rmdir(folder)
        except FileNotFoundError:
            continue
        except OSError:
            return


@contextmanager
def made_dirs(path, what="--out-dir"):
    """A folder that exists for the duration; if this run made it and leaves it empty, it goes."""
    made = ensure_dir(path, what)
    try:
        yield path
    finally:
        remove_if_empty(made)


class Stage:
    """A staging folder and the destination it will replace."""

    def __init__(self, path, destination, force):
        self.path, self.destination, self.force = path, destination, force
        self.committed = False

    def commit(self, record=None, done=None):
        """Move the folder into place and call `record()` (the ledger line) as one step: a signal
        waits until both are done; if `record` fails, the move is undone."""
        with signals.critical():
            undo, finish = _move_into_place(self.path, self.destination, self.force)
            try:
                if record:
                    record()
            except BaseException:
                undo()
                raise
            finish()
            _fsync_dir(os.path.dirname(os.path.abspath(self.destination)))
            self.committed = True
            signals.record(done or f"wrote {self.destination}")


@contextmanager
def staged_dir(destination, force=False):
    """Yield a Stage: a private folder next to `destination` that replaces it on commit (at the
    end of the block if not before). On any exception, Interrupted included, it is removed."""
    refuse_existing(destination, force)
    parent = os.path.dirname(os.path.abspath(destination))
    staging = None
    try:
        # A signal between mkdtemp making the folder and `staging` naming it would leave the folder
        # behind: it waits until both are done, and is raised where the finally below removes it.
        with signals.critical():
            try:
                staging = tempfile.mkdtemp(
                    prefix=f".{os.path.basename(destination)}.", suffix=".tmp", dir=parent
                )
            except OSError as exc:
                raise write_error(parent, exc) from None
        os.chmod(staging, PRIVATE_DIR_MODE)
        stage = Stage(staging, destination, force)
        yield stage
        if not stage.committed:
            stage.commit()
    finally:
        if staging is not None and os.path.lexists(staging):
            shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging, destination, force):
    """Rename staging to destination; return (undo, finish): how to take it back, and what to
    tidy once it stands (--force's previous folder, kept aside until then)."""
    if not os.path.lexists(destination):
        os.rename(staging, destination)
        return (lambda: os.rename(destination, staging)), (lambda: None)
    refuse_existing(destination, force)
    # --force: move the old folder aside first, so a failed swap loses nothing.
    aside = tempfile.mkdtemp(
        prefix=f".{os.path.basename(destination)}.",
        suffix=".old",
        dir=os.path.dirname(os.path.abspath(destination)),
    )
    old = os.path.join(aside, "previous")
    os.rename(destination, old)

    def undo():
        if os.path.lexists(destination):
            os.rename(destination, staging)
        os.rename(old, destination)
        shutil.rmtree(aside, ignore_errors=True)

    try:
        os.rename(staging, destination)
    except BaseException:
        undo()
        raise
    return undo, (lambda: shutil.rmtree(aside, ignore_errors=True))


def copy_folder(source, target):
    """A user's files (and a fleet person's clusters/) copied into `target` (a staging folder);
    links are never followed (the user's lock refused any already)."""
    for name in os.listdir(source):
        path = os.path.join(source, name)
        if os.path.islink(path):
            continue
        if os.path.isdir(path):
            os.mkdir(os.path.join(target, name), PRIVATE_DIR_MODE)
            copy_folder(path, os.path.join(target, name))
        elif os.path.isfile(path):
            shutil.copy2(path, os.path.join(target, name))


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale(parent, lock_is_free):
    """Remove staging folders a killed run left in `parent`: those whose user's lock nobody holds
    (`lock_is_free(stem)`). A `.old` folder (what --force had moved aside) goes back into place
    when the new folder never arrived."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        match = STAGING.fullmatch(name)
        path = os.path.join(parent, name)
        if (
            not match
            or not ownership.is_own_folder(path, closed_to=0, owners=(os.geteuid(),))
            or not lock_is_free(match.group("stem"))
        ):
            continue
        destination = os.path.join(parent, match.group("stem"))
        previous = os.path.join(path, "previous")
        if (
            match.group("kind") == "old"
            and os.path.isdir(previous)
            and not os.path.lexists(destination)
        ):
            os.rename(previous, destination)
        shutil.rmtree(path, ignore_errors=True)
