"""Whose a file or folder is: state is trusted only when it is the runner's own.

Kubernetes cannot revoke a client certificate, so what renew, apply and revoke decide from the
out-dir *is* the access control. A ledger or a user folder that another user owns or can write
could hold a planted certificate and a matching ledger line, which renew would then sign with
the planted groups. So, as ssh refuses a group-writable authorized_keys, a path is the runner's
own only when it is owned by the effective user (or root), writable by nobody else, and not a
symbolic link. These paths are checked, and only these:

  the out-dir itself           (followed if it is a link: it is the path the runner named)
  OUT_DIR/.usercert            and in it ledger.jsonl, locks/ and revoked/: never through a link
  OUT_DIR/USER                 a user's folder, and every entry in it: never through a link

The folders above the out-dir are not checked: a sticky, world-writable /tmp above it is normal.
Commands that decide from this state (create, sign, renew, revoke, apply) refuse it in one line;
list, whois and inspect go on with a warning. This module is the one checker (the cache folder's
and the staging folders' checks use it too).
"""

import os
import shlex
import stat

from ..errors import InvalidInput
from .layout import CLUSTERS_DIR, ledger_path, locks_dir, records_dir, revoked_dir

WRITABLE_BY_OTHERS = 0o022
OPEN_TO_OTHERS = 0o077


def problem(path, follow=False, closed_to=WRITABLE_BY_OTHERS, owners=None):
    """What makes `path` not the runner's own, in words ("is owned by nobody (uid 65534), mode 0644",
    "is writable by its group (mode 0775)", "is a symbolic link (to ../x)"); None when it is its
    own, or does not exist. `owners`: the uids accepted (default: the effective user and root)."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be checked ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return f"is a symbolic link (to {_link_text(path)})"
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid not in (owners or (os.geteuid(), 0)):
        return f"is owned by {_user_name(info.st_uid)} (uid {info.st_uid}), mode {mode:04o}"
    if info.st_mode & closed_to:
        verb = "writable" if closed_to == WRITABLE_BY_OTHERS else "open"
        who = " and ".join(
            name
            for bits, name in ((0o070, "its group"), (0o007, "others"))
            if mode & closed_to & bits
        )
        return f"is {verb} by {who} (mode {mode:04o})"
    return None


def is_own_folder(path, closed_to=WRITABLE_BY_OTHERS, owners=None):
    """A real folder (no link) that is the runner's own (see `problem`)."""
    try:
        is_folder = stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
    return is_folder and problem(path, closed_to=closed_to, owners=owners) is None


def out_dir_problems(out_dir):
    """[(what, path, problem)] for the first of the out-dir and its records (.usercert, the ledger,
    locks/, revoked/) that is not the runner's own; [] when all are (or do not exist yet)."""
    checks = (
        ("the out-dir", out_dir, True),
        ("the records folder", records_dir(out_dir), False),
        ("the ledger", ledger_path(out_dir), False),
        ("the locks folder", locks_dir(out_dir), False),
        ("the archive folder", revoked_dir(out_dir), False),
    )
    for what, path, follow in checks:
        said = problem(path, follow=follow)
        if said:
            return [(what, path, said)]
    return []


def user_folder_problems(directory, what="the user folder"):
    """[(what, path, problem)] for a user's folder and every entry in it (a link among them too),
    and in a fleet person's clusters/ folder."""
    said = problem(directory)
    if said:
        return [(what, directory, said)]
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        return [(what, directory, f"cannot be read ({exc.strerror})")]
    found = []
    for name in names:
        path = os.path.join(directory, name)
        if name == CLUSTERS_DIR and what == "the user folder" and not os.path.islink(path):
            found += user_folder_problems(path, "the clusters folder")
        else:
            found += [("the file", path, said) for said in [problem(path)] if said]
    return found


def links(found):
    """Those of `found` that are symbolic links: never followed, so refused even where the rest only warns."""
    return [problem for problem in found if problem[2].startswith("is a symbolic link")]


def require(found):
    """Refuse, in one line, the first of `found` (what out_dir_problems / user_folder_problems return)."""
    if found:
        raise untrusted(*found[0])


def untrusted(what, path, said):
    """The error that refuses `path`: what it is, its owner and mode, and what to fix."""
    quoted = shlex.quote(path)
    if said.startswith("is a symbolic link"):
        return InvalidInput(
            f"{what} {path} {said}: the tool never follows a link out of its out-dir",
            hint=f"remove the link (rm {quoted}) and put the real folder or file there if it "
            "belongs to this out-dir",
        )
    whole = (
        " -R" if os.path.isdir(path) else ""
    )  # what is in a folder another user had is theirs too
    if said.startswith("is owned"):
        fix = f"chown{whole} {shlex.quote(_user_name(os.geteuid()))} {quoted} && chmod{whole} go-w {quoted}"
    else:
        fix = f"chmod go-w {quoted}"
    return InvalidInput(
        f"{what} {path} {said}: it must be yours and writable only by you, as another user "
        "could have changed what it says",
        hint=f"check what is in it, then: {fix}",
    )


def warning(what, path, said):
    """The warning list, whois and inspect give instead (they change nothing)."""
    return f"{what} {path} {said}: another user could have written it; renew, apply and revoke refuse it"


def _link_text(path):
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def owner_name(uid):
    return _user_name(uid)


def _user_name(uid):
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
