"""Private files, built aside and moved into place in one step.

A user's folder is assembled in a 0700 temporary folder next to its destination and renamed
into place, so a failure or Ctrl-C at any step leaves the destination as it was and no stray
key on disk.
"""

import os
import shutil
import tempfile
from contextlib import contextmanager

from .errors import OutputExists, UsercertError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def write_private(path, data):
    """Create `path` with mode 0600 whatever the umask; refuse to overwrite."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def refuse_existing(destination, force):
    if os.path.lexists(destination) and not force:
        raise OutputExists(f"{destination} already exists",
                           hint="pass --force to replace it, or choose another --out-dir")


def ensure_private_dir(path):
    """Create `path` (and parents) as 0700; return the topmost folder created, or None."""
    path = os.path.abspath(path)
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UsercertError(f"cannot create {folder}: {exc.strerror}",
                                hint="check the path and permissions") from None
        os.chmod(folder, PRIVATE_DIR_MODE)
    return missing[-1] if missing else None


@contextmanager
def staged_dir(destination, force=False):
    """Yield a private temporary folder; on success it replaces `destination` in one rename.

    On any exception (KeyboardInterrupt included) the temporary folder goes, and so does any
    parent folder this call created, so nothing is left behind.
    """
    refuse_existing(destination, force)
    created = ensure_private_dir(os.path.dirname(os.path.abspath(destination)))
    staging = None
    try:
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(destination)}.", suffix=".tmp",
                                   dir=os.path.dirname(os.path.abspath(destination)))
        os.chmod(staging, PRIVATE_DIR_MODE)
        yield staging
        _move_into_place(staging, destination, force)
    except BaseException:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _move_into_place(staging, destination, force):
    if not os.path.lexists(destination):
        os.rename(staging, destination)
        return
    refuse_existing(destination, force)
    # --force: move the old folder aside first, so a failed swap loses nothing.
    aside = tempfile.mkdtemp(prefix=f".{os.path.basename(destination)}.", suffix=".old",
                             dir=os.path.dirname(os.path.abspath(destination)))
    old = os.path.join(aside, "previous")
    os.rename(destination, old)
    try:
        os.rename(staging, destination)
    except BaseException:  # Ctrl-C included: the previous credential goes back where it was
        os.rename(old, destination)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
