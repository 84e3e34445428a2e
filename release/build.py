#!/usr/bin/env python3
"""Build a release: the plugin as one executable zipapp in a .tar.gz, and its krew manifest.

    python3 release/build.py [--dist DIR] [--manifest FILE]

writes DIR/kubectl-usercert-vX.Y.Z.tar.gz (default DIR: dist/) holding
  kubectl-usercert            a zipapp with the package and its pure-Python dependencies; it
                              runs on any python3 >= 3.9 with nothing pip-installed
  kubectl_complete-usercert   kubectl's completion helper, a small script that runs the zipapp
  LICENSE
and FILE (default plugins/usercert.yaml), the krew manifest pointing at the GitHub release: one
platform, linux and darwin on any architecture (the zipapp is pure Python).

The zipapp is a zip of five entries, because Python reads every entry of a zipapp's directory
on every start: __main__.py; the boot module, which Python compiles on every run, so it only
checks the cache and loads the runtime's bytecode from it; the runtime module (importing from the
cache, unpacking, running from the zip); and the payload, a zip of the package and its
dependencies, with its sha256 manifest. The first run of a build for a given Python unpacks the
payload into the user's cache, checked against the manifest, and compiles it there; later runs
import the compiled files from there after checking that nobody else could have changed them (see
RUNTIME_PY). Where no cache can be used safely, modules come from the zip itself.

Dependencies come from setup.cfg (install_requires) through pip, resolved for the oldest Python
that setup.cfg allows. C extensions are dropped (PyYAML then uses its pure-Python code). The
archive is reproducible: the same sources and dependency versions give the same sha256
(timestamps come from SOURCE_DATE_EPOCH, default 1980-01-01).
"""

import argparse
import configparser
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "kubectl_usercert"
PLUGIN = "usercert"
REPOSITORY = "https://github.com/kubectl-usercert/kubectl-usercert"
BOOT_MODULE = "_kubectl_usercert_zipapp"
RUNTIME_MODULE = BOOT_MODULE + "_runtime"
PAYLOAD = BOOT_MODULE + ".zip"  # in the zipapp: the package and its dependencies
MANIFEST_FILE = BOOT_MODULE + ".sha256"  # in the zipapp: `sha256sum` lines for every payload file
EXTENSION_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# krew: the zipapp is pure Python, so one platform for every architecture of both systems
PLATFORM_OSES = ("darwin", "linux")
SHORT_DESCRIPTION = "Issue X.509 client certificates and kubeconfigs"  # krew search shows 50

# Loads the boot module from the zipapp `loader` (a zipimporter) with one compile, where an
# import would compile it twice (zipimport compiles a module once more to find its __file__).
LOAD_BOOT = """\
boot = type(sys)("@BOOT@")
boot.__file__, boot.__loader__ = loader.archive + "/@BOOT@.py", loader
sys.modules[boot.__name__] = boot
exec(compile(loader.get_data("@BOOT@.py"), boot.__file__, "exec", dont_inherit=True), boot.__dict__)
"""

# The zipapp's entry. It must parse on any Python 3, so it can say which version it needs.
MAIN_PY = """\
# kubectl-usercert @VERSION@: a zipapp, see @BOOT@.py
import sys

if sys.version_info < (3, 9):
    sys.stderr.write("error: kubectl-usercert needs Python 3.9 or newer, python3 here is %d.%d\\n"
                     "hint: install a newer python3 and put it first on PATH\\n" % sys.version_info[:2])
    sys.exit(1)

loader = __loader__
@LOAD_BOOT@boot.run()
"""

# The boot module. Python compiles it on every run (a zip holds no bytecode that every Python
# version could use), so it holds only what a start from the cache needs: check the cache and load
# the runtime's own bytecode from it. @NAME@ markers are filled in by zipapp_bytes().
BOOT_PY = r'''"""Start kubectl-usercert from its zipapp: the runtime module from its sealed bytecode in this
build's checked cache, else from the zip. See @RUNTIME@.py for what is checked and why."""

import marshal
import os
import stat
import sys

BUILD_ID = "@BUILD_ID@"
MANIFEST_SHA256 = "@MANIFEST_SHA256@"
SEAL = "@BOOT@.seal"
TAG = sys.implementation.cache_tag  # None where this Python keeps no bytecode
try:
    from _frozen_importlib_external import MAGIC_NUMBER
except ImportError:  # not CPython
    from importlib.util import MAGIC_NUMBER


def run(entry=None):
    """Run the CLI, or the completion helper when called as kubectl_complete-usercert."""
    archive = os.path.dirname(os.path.abspath(__file__))
    cache = open_cache()
    runtime = cache and load(cache, "@RUNTIME@")
    if not runtime:
        import @RUNTIME@ as runtime
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
        return stat.S_ISDIR(info.st_mode) and info.st_uid in (0, os.geteuid()) and (
            not info.st_mode & 0o022 or bool(info.st_mode & stat.S_ISVTX))
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
    if not (TAG and trusted(os.path.dirname(app)) and private(app)
            and private(os.path.dirname(target)) and private(target)):
        return None
    try:
        seal = marshal.loads(read(os.path.join(target, SEAL))[0])
        if (seal["build"], seal["manifest"], seal["magic"]) == (BUILD_ID, MANIFEST_SHA256, MAGIC_NUMBER):
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
'''

RUNTIME_PY = r'''"""How the kubectl-usercert zipapp runs, after @BOOT@.py has started it.

The first run of a build unpacks it into the user's cache, compiled for the Python running it:
${XDG_CACHE_HOME:-~/.cache}/kubectl-usercert/zipapp/BUILD_ID-TAG (TAG: that Python's bytecode
tag, e.g. cpython-311). Python caches no bytecode for modules inside a zip and compiles each of
them on every run (zipimport even twice); package data are real files there, too.

A run imports from the cache only what nobody else could have changed:
- the cache root and every folder above it are this user's or root's and not writable by group or
  others (unless sticky, as /tmp is): nobody else can swap a folder on the way;
- kubectl-usercert/, zipapp/, the build's folder, each package folder used and every file read
  are this user's own, not writable by group or others, not symlinks (files are opened with
  O_NOFOLLOW and checked on the open descriptor, then what was read is what runs);
- every file is the one unpacked: its inode, size, mtime and ctime are those recorded in the
  folder's seal when it was written (nobody but root can set a ctime back), or else its sha256 is
  the one in the zip's manifest (for bytecode: the one recorded when it was compiled from the
  checked source). Hashing every file on every start would cost more than a whole `--help`; this
  costs a stat of each file read anyway. A file that fails is not used (with a warning): its source
  is taken from the zip instead. Only files the seal names are ever imported.
Where no cache can be used, or one cannot be made safely, modules come from the zip itself.

Unpacking is as careful:
- the cache root is created (0700) only inside a folder of this user's that passes the checks,
  so under `sudo -E` (root with another user's HOME or XDG_CACHE_HOME) nothing is written into
  that user's home; an existing cache root, kubectl-usercert/ or zipapp/ that fails the checks is
  left alone (never chmod-ed) and modules come from the zip;
- everything is written into a private staging folder, folders 0700 and files 0600 whatever the
  umask; each file is checked against the zip's manifest (itself checked against the digest built
  into @BOOT@.py) and each source compiled from those very bytes into a checked-hash .pyc as
  py_compile writes it (bytecode goes into our own cache whatever PYTHONDONTWRITEBYTECODE says);
- the seal is written last and the staging folder renamed into place whole, so a folder with
  the build's name is complete.
"""

import marshal
import os
import stat
import sys

import @BOOT@ as boot

try:  # what importlib.machinery holds, without importing it (the completion helper has not)
    from _frozen_importlib import ModuleSpec
    from _frozen_importlib_external import SourceFileLoader
except ImportError:  # not CPython
    from importlib.machinery import ModuleSpec, SourceFileLoader

PAYLOAD = "@PAYLOAD@"  # in the zipapp: a zip of the package and its dependencies
MANIFEST = "@MANIFEST_FILE@"  # in the zipapp: `sha256sum` lines for the payload
BYTECODE_DIGESTS = "@BOOT@.bytecode.sha256"  # in the cache: the same for the compiled files
STALE_SECONDS = 30 * 24 * 3600  # other builds' folders unused for this long are removed
ABANDONED_SECONDS = 3600  # a staging folder this old belongs to an unpacking that was killed

_archive = None  # the zipapp
_cache = None  # (folder, seal files) in use
_payload = None  # the payload, opened
_digests = None  # name -> sha256, read when a file's stamp differs from its seal


def run(archive, cache, entry):
    """Import from the cache (made now if need be) or the zip, then run the CLI or completion."""
    global _archive
    _archive = archive
    if cache is None:
        cache = unpack() and boot.open_cache()
    if not (cache and use_cache(*cache)):
        _import_from_zip()
    args = sys.argv[1:]
    if entry is None:
        called_as = os.path.basename(sys.argv[0])
        entry = "completion" if called_as.startswith("kubectl_complete") else "cli"
        if entry == "cli" and args[:1] == ["__complete"]:  # cobra's convention, for wrappers
            entry, args = "completion", args[1:]
    if entry == "completion":
        from kubectl_usercert.completion import main as complete
        sys.exit(complete(args))
    from kubectl_usercert.cli import main
    main()


def use_cache(target, seal):
    """Import this build's modules from its checked cache folder; False, with nothing changed, if
    a data file there (read other than by import) is not the one unpacked."""
    global _cache
    _cache = target, seal["files"]
    for name in seal["data"]:
        if _stamp(os.path.join(target, name)) != seal["files"][name] and checked(name) is None:
            _cache = None
            return False
    sys.path_hooks.insert(0, _CacheFinder.hook)
    _replace_on_path(target)
    try:
        os.utime(target)  # marks this build as in use
    except OSError:
        pass
    return True


def checked(name):
    """The bytes of file `name` of the cache in use if it is the one unpacked, else None."""
    target, files = _cache
    path = os.path.join(target, name)
    found = boot.read(path)
    if found is not None and found[1] == files.get(name):
        return found[0]
    if found is not None:
        import hashlib

        if hashlib.sha256(found[0]).hexdigest() == _digest(name):
            return found[0]  # the same bytes, in a file copied, restored or chmod-ed since
    if found is not None or os.path.lexists(path):
        sys.stderr.write("warning: %s is not what kubectl-usercert unpacked; using the zipapp's "
                         "copy\n" % path)
    return None


def _stamp(path):
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022:
        return "%d:%d:%d:%d" % (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return None


def _digest(name):
    """The sha256 file `name` of the cache must have: the zip's manifest says, or for bytecode
    the list written with it (if that is still the file sealed)."""
    global _digests
    if _digests is None:
        import hashlib

        manifest = _zip_data(MANIFEST)
        _digests = {}
        if hashlib.sha256(manifest).hexdigest() == boot.MANIFEST_SHA256:
            _digests.update(_sha256sum_lines(manifest))
        target, files = _cache
        found = boot.read(os.path.join(target, BYTECODE_DIGESTS))
        if found and found[1] == files.get(BYTECODE_DIGESTS):
            _digests.update(_sha256sum_lines(found[0]))
    return _digests.get(name)


def _sha256sum_lines(data):
    return {name: digest for digest, name in (line.split("  ", 1) for line in data.decode().splitlines())}


def _bytecode_name(name):
    head, tail = os.path.split(name)
    return os.path.join(head, "__pycache__", "%s.%s.pyc" % (tail[:-3], boot.TAG))


def _cached_code(name):
    pyc = _bytecode_name(name)
    data = pyc in _cache[1] and checked(pyc)
    if not data or data[:4] != boot.MAGIC_NUMBER:
        return None
    return marshal.loads(memoryview(data)[16:])


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
        _fill(staging, target)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        return boot.open_cache() is not None  # another run may have been first
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _remove_stale(zipapp, target)
    return True


def _mkdir(path):
    try:
        os.mkdir(path, 0o700)
    except OSError:
        pass  # there already, or cannot be: the checks that follow decide


def _discard(path):
    import shutil

    aside = "%s/.%s.discarded.%s" % (os.path.dirname(path), os.path.basename(path), os.urandom(4).hex())
    try:
        os.rename(path, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _fill(staging, target):
    """Write the payload into `staging`, checked against the manifest, with checked-hash bytecode
    for this Python; the seal last."""
    import hashlib

    manifest = _zip_data(MANIFEST)
    if hashlib.sha256(manifest).hexdigest() != boot.MANIFEST_SHA256:
        raise OSError(22, "the zipapp's manifest is not the one it was built with")
    made, bytecode, data_files = {staging}, [], []
    for name, digest in _sha256sum_lines(manifest).items():
        parts = name.split("/")
        if name.startswith("/") or "" in parts or ".." in parts or name in (boot.SEAL, BYTECODE_DIGESTS):
            raise OSError(22, "bad name in the zipapp's manifest", name)
        data = _open_payload().read(name)
        if hashlib.sha256(data).hexdigest() != digest:
            raise OSError(22, "not as the zipapp's manifest says", name)
        _write(staging, name, data, made)
        if not name.endswith(".py"):
            data_files.append(name)
            continue
        pyc = _bytecode(data, os.path.join(target, name))
        if pyc is not None:
            _write(staging, _bytecode_name(name), pyc, made)
            bytecode.append("%s  %s\n" % (hashlib.sha256(pyc).hexdigest(), _bytecode_name(name)))
    _write(staging, BYTECODE_DIGESTS, "".join(bytecode).encode(), made)
    files = {}
    for folder, _, names in os.walk(staging):
        for name in names:
            name = os.path.relpath(os.path.join(folder, name), staging)
            files[name] = _stamp(os.path.join(staging, name))
    seal = {"build": boot.BUILD_ID, "manifest": boot.MANIFEST_SHA256, "magic": boot.MAGIC_NUMBER,
            "files": files, "data": data_files}
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


def _bytecode(source, path):
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
    return boot.MAGIC_NUMBER + (0b11).to_bytes(4, "little") + source_hash(source) + marshal.dumps(code)


def _remove_stale(zipapp, keep):
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
        if path != keep and boot.private(path) and (
                age > (ABANDONED_SECONDS if name.startswith(".") else STALE_SECONDS)):
            shutil.rmtree(path, ignore_errors=True)


def _replace_on_path(entry):
    sys.path[:] = [entry if p and os.path.abspath(p) == _archive else p for p in sys.path]
    if entry not in sys.path:
        sys.path.insert(0, entry)


def _zip_data(name):
    """An entry of the zipapp itself."""
    loader = boot.__loader__
    return loader.get_data(os.path.join(getattr(loader, "archive", None) or _archive, name))


def _open_payload():
    global _payload
    if _payload is None:
        import io
        import zipfile

        _payload = zipfile.ZipFile(io.BytesIO(_zip_data(PAYLOAD)))
    return _payload


def _from_payload(name):
    try:
        return _open_payload().read(name)
    except KeyError:
        raise OSError(2, "not in the zipapp", name) from None  # ENOENT


class _CacheFinder:
    """Finds this build's modules in the cache by the seal's names (nothing else there is ever
    imported), checking each package folder once."""

    def __init__(self, prefix):
        self.prefix = prefix  # "" or "package/sub/"

    @classmethod
    def hook(cls, path):
        target = _cache[0]
        if path == target:
            return cls("")
        # a folder that has gone (the cache removed under a long run) is no danger: its files
        # then come from the zip
        if path.startswith(target + os.sep) and (boot.private(path) or not os.path.lexists(path)):
            return cls(path[len(target) + 1:] + "/")
        raise ImportError("not this build's cache")

    def find_spec(self, fullname, target=None):
        folder, files = _cache
        name = self.prefix + fullname.rpartition(".")[2]
        for path, package in ((name + "/__init__.py", True), (name + ".py", False)):
            if path in files:
                path = os.path.join(folder, path)
                spec = ModuleSpec(fullname, _CacheLoader(fullname, path), origin=path, is_package=package)
                spec.has_location = True
                if package:
                    spec.submodule_search_locations = [os.path.dirname(path)]
                return spec
        return None

    def invalidate_caches(self):
        pass


class _CacheLoader(SourceFileLoader):
    """Runs a module from its sealed bytecode; else compiles its source if that is the checked
    one, else the zip's copy. Never writes."""

    def get_code(self, fullname):
        code = _cached_code(self.path[len(_cache[0]) + 1:])
        if code is None:
            return compile(self.get_data(self.path), self.path, "exec", dont_inherit=True)
        import _imp

        if hasattr(_imp, "_fix_co_filename"):  # as importlib does, should the folder have moved
            _imp._fix_co_filename(code, self.path)
        return code

    def get_data(self, path):
        name = os.path.relpath(path, _cache[0])
        data = checked(name) if name in _cache[1] else None
        return _from_payload(name) if data is None else data

    def set_data(self, *args, **kwargs):
        pass  # the cache is written once, when unpacked


def _import_from_zip():
    """Import this build's modules from the payload in the zipapp, each compiled on every run."""
    location = os.path.join(_archive, PAYLOAD)
    names = set(_open_payload().namelist())

    def hook(path):
        if path == location:
            return _ZipFinder(location, names, "")
        if path.startswith(location + "/"):
            return _ZipFinder(location, names, path[len(location) + 1:] + "/")
        raise ImportError("not this zipapp")

    sys.path_hooks.insert(0, hook)
    _replace_on_path(location)


class _ZipFinder:
    def __init__(self, location, names, prefix):
        self.location, self.names, self.prefix = location, names, prefix

    def find_spec(self, fullname, target=None):
        name = self.prefix + fullname.rpartition(".")[2]
        for path, package in ((name + "/__init__.py", True), (name + ".py", False)):
            if path in self.names:
                spec = ModuleSpec(fullname, _ZipLoader(path), origin=self.location + "/" + path,
                                  is_package=package)
                spec.has_location = True
                if package:
                    spec.submodule_search_locations = [self.location + "/" + name]
                return spec
        return None

    def invalidate_caches(self):
        pass


class _ZipLoader:
    def __init__(self, name):
        self.name = name  # in the payload

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = self.get_code(module.__name__)
        if module.__name__ != "plumbum.cli.i18n":
            exec(code, module.__dict__)
            return
        # plumbum reads its translations through importlib.resources.as_file on a folder, which
        # does not work inside a zip: keep its English
        import locale

        getlocale = locale.getlocale
        locale.getlocale = lambda *args, **kwargs: (None, None)
        try:
            exec(code, module.__dict__)
        finally:
            locale.getlocale = getlocale

    def is_package(self, fullname):
        return self.name.endswith("/__init__.py")

    def get_code(self, fullname):
        path = os.path.join(_archive, PAYLOAD, self.name)
        return compile(_from_payload(self.name), path, "exec", dont_inherit=True)

    def get_source(self, fullname):
        from importlib.util import decode_source

        return decode_source(_from_payload(self.name))

    def get_data(self, path):
        prefix = os.path.join(_archive, PAYLOAD) + "/"
        return _from_payload(path[len(prefix):] if path.startswith(prefix) else path)

'''

COMPLETER = """\
#!/usr/bin/env python3
# kubectl usercert: shell completion helper, run by kubectl (1.26+) as
# `kubectl_complete-usercert WORDS...`; it runs the kubectl-usercert zipapp in its folder.
import os
import sys

if sys.version_info < (3, 9):
    sys.exit(1)
import zipimport  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "kubectl-usercert"))
loader = zipimport.zipimporter(sys.path[0])
@LOAD_BOOT@boot.run("completion")
"""

MANIFEST = """\
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: @PLUGIN@
spec:
  version: @TAG@
  homepage: @HOMEPAGE@
  shortDescription: @SHORT@
  description: |
    Gives a person access to a cluster with an X.509 client certificate:
    `kubectl usercert create alice developers` makes a key, a certificate with
    CN=alice and O=developers signed by the cluster's CA, and a self-contained
    kubeconfig in clients/alice/. Names are validated so that the certificate
    holds exactly the user and groups asked for; keys and kubeconfigs are
    private (0600); nothing is overwritten without --force.
  caveats: |
    The plugin is a Python zipapp. It needs on PATH:
      kubectl
      python3, version 3.9 or newer
      openssl: OpenSSL 1.1.1, 3.0.x (3.0.2 included) or 3.x, or LibreSSL
        3.3.6 or later (as macOS ships)

    Shell completion (kubectl 1.26+) needs a helper next to the plugin:
      printf '#!/bin/sh\\nexec kubectl-usercert __complete "$@"\\n' \\
        > ${KREW_ROOT:-~/.krew}/bin/kubectl_complete-usercert
      chmod +x ${KREW_ROOT:-~/.krew}/bin/kubectl_complete-usercert
  platforms:
  - selector:
      matchExpressions:
      - key: os
        operator: In
        values: [@OSES@]
    uri: @URI@
    sha256: @SHA256@
    bin: kubectl-usercert
    files:
    - from: kubectl-usercert
      to: .
    - from: kubectl_complete-usercert
      to: .
    - from: LICENSE
      to: .
"""


def fill(template, **values):
    """`template` with each @NAME@ replaced (str.format would trip over the code's braces)."""
    for name, value in values.items():
        template = template.replace("@%s@" % name, value)
    left = re.search(r"@[A-Z_]+@", template)
    if left:
        raise ValueError(f"{left.group()} left unfilled")
    return template


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the release archive and krew manifest.")
    parser.add_argument("--dist", default=os.path.join(ROOT, "dist"), help="where the archive goes")
    parser.add_argument("--manifest", default=os.path.join(ROOT, "plugins", PLUGIN + ".yaml"),
                        help="the krew manifest to write")
    args = parser.parse_args(argv)

    version = package_version()
    tag = "v" + version
    requirements, min_python = setup_cfg_requirements()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    with tempfile.TemporaryDirectory(prefix="usercert-release.") as work:
        site = os.path.join(work, "site")
        pins = install_dependencies(requirements, min_python, site)
        drop_platform_files(site)
        shutil.copytree(os.path.join(ROOT, "lib", PACKAGE), os.path.join(site, PACKAGE),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        app = zipapp_bytes(site, version, epoch)

    name = f"kubectl-usercert-{tag}.tar.gz"
    os.makedirs(args.dist, exist_ok=True)
    archive = os.path.join(args.dist, name)
    with open(os.path.join(ROOT, "LICENSE"), "rb") as handle:
        license_text = handle.read()
    files = [("kubectl-usercert", app, 0o755),
             ("kubectl_complete-usercert", fill(COMPLETER.replace("@LOAD_BOOT@", LOAD_BOOT), BOOT=BOOT_MODULE).encode(),
              0o755),
             ("LICENSE", license_text, 0o644)]
    write_tar_gz(archive, files, epoch)
    with open(archive, "rb") as handle:
        sha256 = hashlib.sha256(handle.read()).hexdigest()

    uri = f"{REPOSITORY}/releases/download/{tag}/{name}"
    manifest = fill(MANIFEST, PLUGIN=PLUGIN, TAG=tag, HOMEPAGE=REPOSITORY, SHORT=SHORT_DESCRIPTION,
                    OSES=", ".join(PLATFORM_OSES), URI=uri, SHA256=sha256)
    os.makedirs(os.path.dirname(os.path.abspath(args.manifest)), exist_ok=True)
    with open(args.manifest, "w", encoding="utf-8") as handle:
        handle.write(manifest)

    print(f"dependencies: {', '.join(pins)} (for Python {min_python}+)")
    print(f"archive:      {_shown(archive)} ({os.path.getsize(archive) // 1024} KiB)")
    print(f"sha256:       {sha256}")
    print(f"manifest:     {_shown(args.manifest)}")
    print(f"try it:       kubectl krew install --manifest={_shown(args.manifest)} --archive={_shown(archive)}")
    print(f"upload the archive as {uri}")
    return 0


def _shown(path):
    """A path relative to the current folder when it is inside it, else absolute."""
    path = os.path.abspath(path)
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def package_version():
    with open(os.path.join(ROOT, "lib", PACKAGE, "__init__.py"), encoding="utf-8") as handle:
        match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', handle.read(), re.M)
    if not match or not re.fullmatch(r"\d+\.\d+\.\d+", match.group(1)):
        sys.exit(f"error: no X.Y.Z __version__ in lib/{PACKAGE}/__init__.py")
    return match.group(1)


def setup_cfg_requirements():
    """install_requires and the lowest Python of python_requires (">=3.9" -> "3.9")."""
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"), encoding="utf-8")
    requirements = [line.strip() for line in config["options"]["install_requires"].splitlines()
                    if line.strip()]
    match = re.search(r">=\s*(\d+\.\d+)", config["options"].get("python_requires", ""))
    return requirements, (match.group(1) if match else "3.9")


def install_dependencies(requirements, min_python, site):
    """pip-install the dependencies for `min_python` into `site`; return the name==version pins.

    pip's --python-version picks wheels and markers for that Python, but trusts the index to
    leave out releases whose Requires-Python excludes it; a mirror that does not say so can
    hand out a too-new release. Each resolution is checked, and a release that does not run
    on `min_python` is excluded before resolving again.
    """
    target = ["--only-binary=:all:", "--python-version", min_python, "--target", site, "--no-compile"]
    extra = []
    for _ in range(20):
        with tempfile.TemporaryDirectory() as scratch:
            report_path = os.path.join(scratch, "report.json")
            pip("install", "--dry-run", "--ignore-installed", "--report", report_path,
                *target, *requirements, *extra)
            with open(report_path, encoding="utf-8") as handle:
                report = json.load(handle)
        chosen, too_new = [], []
        for item in report["install"]:
            meta = item["metadata"]
            name, version = meta["name"], meta["version"]
            chosen.append(f"{name}=={version}")
            if not python_admits(meta.get("requires_python") or "", min_python):
                too_new.append(f"{name}<{version}")
        if not too_new:
            pip("install", "--no-deps", *target, *chosen)
            return sorted(chosen, key=str.lower)
        extra += too_new
    sys.exit(f"error: no dependency set runs on Python {min_python}: {', '.join(extra)}")


def python_admits(specifier, python_version):
    if not specifier.strip():
        return True
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:
        from pip._vendor.packaging.specifiers import SpecifierSet
    return SpecifierSet(specifier).contains(python_version, prereleases=True)


def pip(*args):
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"})
    if result.returncode != 0:
        sys.stderr.write(result.stdout.decode(errors="replace")[-4000:])
        sys.exit(f"error: pip {args[0]} failed (output above)")


def drop_platform_files(site):
    """Leave only what runs on every platform: no extension modules, scripts or bytecode, and
    no RECORD files (pip's uninstall lists, which name what was dropped and the build's Python)."""
    shutil.rmtree(os.path.join(site, "bin"), ignore_errors=True)
    for folder, dirs, files in os.walk(site, topdown=True):
        for name in list(dirs):
            if name == "__pycache__":
                shutil.rmtree(os.path.join(folder, name))
                dirs.remove(name)
        for name in files:
            if name.endswith(EXTENSION_SUFFIXES) or name.endswith(".pyc") or (
                    name == "RECORD" and folder.endswith(".dist-info")):
                os.remove(os.path.join(folder, name))


def zipapp_bytes(site, version, epoch):
    """The executable: `#!/usr/bin/env python3`, then a zip of __main__.py, the boot and runtime
    modules, the payload (every file under `site` and the runtime, sorted) and its manifest."""
    with open(os.path.join(site, RUNTIME_MODULE + ".py"), "w", encoding="utf-8") as handle:
        handle.write(fill(RUNTIME_PY, BOOT=BOOT_MODULE, PAYLOAD=PAYLOAD, MANIFEST_FILE=MANIFEST_FILE))
    entries = []
    for folder, dirs, files in os.walk(site):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                entries.append((os.path.relpath(path, site).replace(os.sep, "/"), handle.read()))
    entries.sort()
    check_packages([name for name, _ in entries])
    manifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in entries).encode()
    manifest_sha256 = hashlib.sha256(manifest).hexdigest()
    build_id = f"{version}-{manifest_sha256[:16]}"

    date_time = _zip_date_time(epoch)
    payload = zip_bytes(entries, date_time)
    boot = fill(BOOT_PY, BUILD_ID=build_id, MANIFEST_SHA256=manifest_sha256, BOOT=BOOT_MODULE,
                RUNTIME=RUNTIME_MODULE)
    runtime = dict(entries)[RUNTIME_MODULE + ".py"]
    main_py = fill(MAIN_PY.replace("@LOAD_BOOT@", LOAD_BOOT), VERSION=version, BOOT=BOOT_MODULE)
    outer = [("__main__.py", main_py.encode()),
             (BOOT_MODULE + ".py", boot.encode()),
             (RUNTIME_MODULE + ".py", runtime),
             (MANIFEST_FILE, manifest),
             (PAYLOAD, payload)]
    # stored, not deflated: the payload's entries are deflated already, and the rest is read on
    # every start (without zlib, which Python would otherwise import for it)
    return b"#!/usr/bin/env python3\n" + zip_bytes(outer, date_time, stored=[name for name, _ in outer])


def check_packages(names):
    """Every folder holding Python modules is a regular package (has __init__.py): the zipapp's
    importers find modules by the manifest's names and do not implement namespace packages."""
    present = set(names)
    for name in names:
        parts = name.split("/")
        if name.endswith(".py") and not parts[0].endswith(".dist-info"):
            for depth in range(1, len(parts)):
                package = "/".join(parts[:depth])
                if package + "/__init__.py" not in present:
                    sys.exit(f"error: {package}/ holds {name} but has no __init__.py (a namespace "
                             f"package, which the zipapp cannot import)")


def zip_bytes(entries, date_time, stored=()):
    """A zip of (name, data) entries, in that order, with fixed timestamps and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=date_time)
            info.compress_type = zipfile.ZIP_STORED if arcname in stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, so the permissions above count
            bundle.writestr(info, data)
    return buffer.getvalue()


def _zip_date_time(epoch):
    import time

    stamp = time.gmtime(max(epoch, 315532800))  # zip cannot say anything before 1980
    return stamp[:6]


def write_tar_gz(path, files, epoch):
    """A tar.gz of regular files at the top level: what krew's extractor accepts."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, epoch
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    partial = path + ".partial"
    with open(partial, "wb") as handle:
        with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=epoch, compresslevel=9) as gz:
            gz.write(raw.getvalue())
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main())
