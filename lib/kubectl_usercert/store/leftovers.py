"""What a run killed (SIGKILL) in the middle of a write leaves in the person's store, cleared by the
next run that opens it: files.replace_file's temporary files (`.NAME.xxxxxxxx.tmp`), never renamed
into place. One a minute old is no run's any more (a write takes milliseconds)."""

import os
import re
import stat
import time

TEMPORARY = re.compile(r"\.[^/]+\.\w{8}\.tmp")
TEMPORARY_AGE = 60


def clear_temporary(folder):
    """Remove the old temporary files directly in `folder` (not a link: never followed)."""
    if os.path.islink(folder):
        return
    try:
        names = [name for name in os.listdir(folder) if TEMPORARY.fullmatch(name)]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and time.time() - info.st_mtime > TEMPORARY_AGE:
                os.unlink(path)
        except OSError:
            pass
