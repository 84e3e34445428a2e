"""The first run of a kubectl-usercert build unpacks the zipapp's payload into the user's cache
and compiles it there (see _kubectl_usercert_zipapp_runtime.py for the cache and how it is used).

Unpacking is as careful as the use:
- the cache root is created (0700) only inside a folder of this user's that passes the checks,
  so under `sudo -E` (root with another user's HOME or XDG_CACHE_HOME) nothing is written into
  that user's home; an existing cache root, kubectl-usercert/ or zipapp/ that fails the checks is
  left alone (never chmod-ed) and modules come from the zip;
- everything is written into a private staging folder, folders 0700 and files 0600 whatever the
  umask; each file is checked against the zip's manifest (itself checked against the digest built
  into _kubectl_usercert_zipapp.py) and each source compiled from those very bytes into a
  checked-hash .pyc as py_compile writes it (bytecode goes into our own cache whatever
  PYTHONDONTWRITEBYTECODE says);
- the seal is written last and the staging folder renamed into place whole, so a folder with
  the build's name is complete.

Standard library and Python 3.9 only.
"""

import marshal
import os

import _kubectl_usercert_zipapp as boot
import _kubectl_usercert_zipapp_runtime as runtime

STALE_SECONDS = 30 * 24 * 3600  # other builds' folders unused for this long are removed
ABANDONED_SECONDS = 3600  # a staging folder this old belongs to an unpacking that was killed


def unpack():
    """Unpack and compile this build into the cache where that can be done safely; True if a
    usable copy is there now (made by this run or another)."""
    if not boot.TAG:
        return False
    root = boot.cache_root()
    if not os.path.lexists(root) and boot.trusted(os.path.dirname(root)):
        _mkdir(root)
    if not boot.trusted(root):
        return False
    app = os.path.join(root, "kubectl-usercert")
    zipapp = os.path.join(app, "zipapp")
    for path in (app, zipapp):
        _mkdir(path)
        if not boot.private(path):
            return False
    target = boot.folder()
    if os.path.lexists(target):
        if boot.open_cache():
            return True  # another run was first
        if not boot.private(target):
            return False
        _discard(target)  # ours, but without a seal of this build: no run ever used it
    import shutil
    import tempfile

    try:
        staging = tempfile.mkdtemp(prefix=".%s." % os.path.basename(target), dir=zipapp)
    except OSError:
        return False
    try:
        fill(staging, target)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        return boot.open_cache() is not None  # another run may have been first
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    remove_stale(zipapp, target)
    return True


def _mkdir(path):
    try:
        os.mkdir(path, 0o700)
    except OSError:
        pass  # there already, or cannot be: the checks that follow decide


def _discard(path):
    import shutil

    aside = "%s/.%s.discarded.%s" % (
        os.path.dirname(path),
        os.path.basename(path),
        os.urandom(4).hex(),
    )
    try:
        os.rename(path, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def fill(staging, target):
    """Write the payload into `staging`, checked against the manifest, with checked-hash bytecode
    for this Python (compiled for its place in `target`); the seal last."""
    import hashlib

    manifest = runtime.zip_data(runtime.MANIFEST)
    if hashlib.sha256(manifest).hexdigest() != boot.MANIFEST_SHA256:
        raise OSError(22, "the zipapp's manifest is not the one it was built with")
    made, bytecode, data_files = {staging}, [], []
    for name, digest in runtime.sha256sum_lines(manifest).items():
        parts = name.split("/")
        if (
            name.startswith("/")
            or "" in parts
            or ".." in parts
            or name in (boot.SEAL, runtime.BYTECODE_DIGESTS)
        ):
            raise OSError(22, "bad name in the zipapp's manifest", name)
        data = runtime.open_payload().read(name)
        if hashlib.sha256(data).hexdigest() != digest:
            raise OSError(22, "not as the zipapp's manifest says", name)
        _write(staging, name, data, made)
        if not name.endswith(".py"):
            data_files.append(name)
            continue
        pyc = bytecode_of(data, os.path.join(target, name))
        if pyc is not None:
            _write(staging, runtime.bytecode_name(name), pyc, made)
            bytecode.append(
                "%s  %s\n" % (hashlib.sha256(pyc).hexdigest(), runtime.bytecode_name(name))
            )
    _write(staging, runtime.BYTECODE_DIGESTS, "".join(bytecode).encode(), made)
    files = {}
    for folder, _, names in os.walk(staging):
        for name in names:
            name = os.path.relpath(os.path.join(folder, name), staging)
            files[name] = runtime.stamp(os.path.join(staging, name))
    seal = {
        "build": boot.BUILD_ID,
        "manifest": boot.MANIFEST_SHA256,
        "magic": boot.MAGIC_NUMBER,
        "files": files,
        "data": data_files,
    }
    _write(staging, boot.SEAL, marshal.dumps(seal), made)


def _write(base, name, data, made):
    """A new file base/name (0600), and the folders to it (0700), whatever the umask."""
    path = base
    for part in name.split("/")[:-1]:
        path = os.path.join(path, part)
        if path not in made:
            if not os.path.isdir(path):
                os.mkdir(path, 0o700)
            made.add(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with open(os.open(os.path.join(base, name), flags, 0o600), "wb") as handle:
        handle.write(data)


def bytecode_of(source, path):
    """A checked-hash .pyc of `source` for this Python, as py_compile writes it; None if this
    Python cannot compile it (importing it fails then, as it does from the zip)."""
    import warnings
    from importlib.util import source_hash

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as pip hides them when it compiles
            code = compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    return (
        boot.MAGIC_NUMBER + (0b11).to_bytes(4, "little") + source_hash(source) + marshal.dumps(code)
    )


def remove_stale(zipapp, keep):
    """Other builds' folders unused for STALE_SECONDS, and what killed runs left behind."""
    import shutil
    import time

    now = time.time()
    for name in os.listdir(zipapp):
        path = os.path.join(zipapp, name)
        try:
            age = now - os.lstat(path).st_mtime
        except OSError:
            continue
        if (
            path != keep
            and boot.private(path)
            and (age > (ABANDONED_SECONDS if name.startswith(".") else STALE_SECONDS))
        ):
            shutil.rmtree(path, ignore_errors=True)
