"""Start kubectl-usercert from its zipapp: the runtime module from its sealed bytecode in this
build's checked cache, else from the zip. See _kubectl_usercert_zipapp_runtime.py for what is
checked and why.

Python compiles this module on every run (a zip holds no bytecode that every Python version could
use), so it holds only what a start from the cache needs: check the cache and load the runtime's
own bytecode from it. Standard library and Python 3.9 only: it runs wherever the zipapp does."""

import marshal
import os
import stat
import sys

# Set for each build by release/build.py (with_build_values), which checks that it set both: the
# build's "VERSION-DIGEST" and its manifest's sha256. As here, the module belongs to no build, and
# no cache or zipapp manifest ever matches it.
BUILD_ID = "unbuilt"
MANIFEST_SHA256 = "unbuilt"

RUNTIME = "_kubectl_usercert_zipapp_runtime"
SEAL = "_kubectl_usercert_zipapp.seal"  # in the cache: what was unpacked, see RUNTIME
TAG = sys.implementation.cache_tag  # None where this Python keeps no bytecode
try:
    from _frozen_importlib_external import MAGIC_NUMBER
except ImportError:  # not CPython
    from importlib.util import MAGIC_NUMBER


def run(entry=None):
    """Run the CLI, or the completion helper when called as kubectl_complete-usercert."""
    archive = os.path.dirname(os.path.abspath(__file__))
    cache = open_cache()
    runtime = cache and load(cache, RUNTIME)
    if not runtime:
        runtime = __import__(RUNTIME)  # from the zip
    runtime.run(archive, cache, entry)


def cache_root():
    """$XDG_CACHE_HOME (if absolute) or ~/.cache, symlinks resolved."""
    root = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(root):
        root = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.realpath(root)


def folder():
    """This build's folder in the cache, for this Python (it may not exist)."""
    return os.path.join(cache_root(), "kubectl-usercert", "zipapp", "%s-%s" % (BUILD_ID, TAG))


def private(path, above=False):
    """A folder (not a symlink) of this user's that group and others cannot write to. A folder
    `above` the cache root may be root's as well, and writable by others if sticky (/tmp)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if above:
        return (
            stat.S_ISDIR(info.st_mode)
            and info.st_uid in (0, os.geteuid())
            and (not info.st_mode & 0o022 or bool(info.st_mode & stat.S_ISVTX))
        )
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def trusted(path):
    """`path` is private and nobody else can replace it or any folder above it."""
    if not private(path):
        return False
    while path != os.path.dirname(path):
        path = os.path.dirname(path)
        if not private(path, above=True):
            return False
    return True


def open_cache():
    """(folder, seal) of this build's copy for this Python, where every folder on the way passes
    and the seal was written for this very build and Python; None otherwise."""
    target = folder()
    app = os.path.dirname(os.path.dirname(target))
    if not (
        TAG
        and trusted(os.path.dirname(app))
        and private(app)
        and private(os.path.dirname(target))
        and private(target)
    ):
        return None
    try:
        seal = marshal.loads(read(os.path.join(target, SEAL))[0])
        if (seal["build"], seal["manifest"], seal["magic"]) == (
            BUILD_ID,
            MANIFEST_SHA256,
            MAGIC_NUMBER,
        ):
            return target, seal
    except (TypeError, ValueError, EOFError, KeyError):  # no seal, or not one of ours
        pass
    return None


def read(path):
    """(bytes, stamp) of a regular file of this user's that group and others cannot write to,
    opened without following a symlink; None otherwise. The stamp (inode, size, mtime, ctime)
    tells whether it is still the file sealed: only root can set a ctime back."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            return None
        data = os.read(fd, info.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    stamp = "%d:%d:%d:%d" % (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return (data, stamp) if len(data) == info.st_size else None


def load(cache, name):
    """Module `name` from its bytecode in the cache, if that is exactly the file sealed."""
    target, seal = cache
    pyc = os.path.join("__pycache__", "%s.%s.pyc" % (name, TAG))
    found = pyc in seal["files"] and read(os.path.join(target, pyc))
    if not found or found[1] != seal["files"][pyc] or found[0][:4] != MAGIC_NUMBER:
        return None
    module = type(sys)(name)
    module.__file__ = os.path.join(target, name + ".py")
    sys.modules[name] = module
    exec(marshal.loads(memoryview(found[0])[16:]), module.__dict__)
    return module
