"""How the kubectl-usercert zipapp runs, after _kubectl_usercert_zipapp.py (the boot) has started it.

The first run of a build unpacks it into the user's cache, compiled for the Python running it:
${XDG_CACHE_HOME:-~/.cache}/kubectl-usercert/zipapp/BUILD_ID-TAG (TAG: that Python's bytecode
tag, e.g. cpython-311). Python caches no bytecode for modules inside a zip and compiles each of
them on every run (zipimport even twice); package data are real files there, too. How the cache
is made is in _kubectl_usercert_zipapp_unpacking.py.

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
Where no cache can be used, or one cannot be made safely, modules come from the zip itself
(_kubectl_usercert_zipapp_zip_import.py).

This module is all that a start from the cache runs besides the boot; the modules that unpack and
import from the zip are compiled from the payload by the runs that need them (own_module).
Standard library and Python 3.9 only.
"""

import marshal
import os
import stat
import sys

import _kubectl_usercert_zipapp as boot

try:  # what importlib.machinery holds, without importing it (the completion helper has not)
    from _frozen_importlib import ModuleSpec
    from _frozen_importlib_external import SourceFileLoader
except ImportError:  # not CPython
    from importlib.machinery import ModuleSpec, SourceFileLoader

PAYLOAD = "_kubectl_usercert_zipapp.zip"  # in the zipapp: a zip of the package and its dependencies
MANIFEST = "_kubectl_usercert_zipapp.sha256"  # in the zipapp: `sha256sum` lines for the payload
BYTECODE_DIGESTS = "_kubectl_usercert_zipapp.bytecode.sha256"  # in the cache: the same for bytecode
UNPACKING = "_kubectl_usercert_zipapp_unpacking"  # in the payload
ZIP_IMPORT = "_kubectl_usercert_zipapp_zip_import"  # in the payload

archive = None  # the zipapp
cache = None  # (folder, seal files) in use
_payload = None  # the payload, opened
_digests = None  # name -> sha256, read when a file's stamp differs from its seal


def run(zipapp, sealed, entry):
    """Import from the cache `sealed` (made now if None and it can be) or from the zip, then run
    the CLI or completion."""
    global archive
    archive = zipapp
    if sealed is None:
        sealed = own_module(UNPACKING).unpack() and boot.open_cache()
    if not (sealed and use_cache(*sealed)):
        own_module(ZIP_IMPORT).import_from_zip()
    args = sys.argv[1:]
    if entry is None:
        called_as = os.path.basename(sys.argv[0])
        entry = "completion" if called_as.startswith("kubectl_complete") else "cli"
        if entry == "cli" and args[:1] == ["__complete"]:  # cobra's convention, for wrappers
            entry, args = "completion", args[1:]
    if entry == "completion":
        from kubectl_usercert.cli.completion import main as complete

        sys.exit(complete(args))
    from kubectl_usercert.cli import main

    main()


def use_cache(target, seal):
    """Import this build's modules from its checked cache folder; False, with nothing changed, if
    a data file there (read other than by import) is not the one unpacked."""
    global cache
    cache = target, seal["files"]
    for name in seal["data"]:
        if stamp(os.path.join(target, name)) != seal["files"][name] and checked(name) is None:
            cache = None
            return False
    sys.path_hooks.insert(0, _CacheFinder.hook)
    replace_on_path(target)
    try:
        os.utime(target)  # marks this build as in use
    except OSError:
        pass
    return True


def checked(name):
    """The bytes of file `name` of the cache in use if it is the one unpacked, else None."""
    target, files = cache
    path = os.path.join(target, name)
    found = boot.read(path)
    if found is not None and found[1] == files.get(name):
        return found[0]
    if found is not None:
        import hashlib

        if hashlib.sha256(found[0]).hexdigest() == _digest(name):
            return found[0]  # the same bytes, in a file copied, restored or chmod-ed since
    if found is not None or os.path.lexists(path):
        sys.stderr.write(
            "warning: %s is not what kubectl-usercert unpacked; using the zipapp's copy\n" % path
        )
    return None


def stamp(path):
    """The stamp boot.read() gives a file, from its lstat; None if it is not a regular file of
    this user's that group and others cannot write to."""
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

        manifest = zip_data(MANIFEST)
        _digests = {}
        if hashlib.sha256(manifest).hexdigest() == boot.MANIFEST_SHA256:
            _digests.update(sha256sum_lines(manifest))
        target, files = cache
        found = boot.read(os.path.join(target, BYTECODE_DIGESTS))
        if found and found[1] == files.get(BYTECODE_DIGESTS):
            _digests.update(sha256sum_lines(found[0]))
    return _digests.get(name)


def sha256sum_lines(data):
    """{name: digest} of `sha256sum` output."""
    return {
        name: digest
        for digest, name in (line.split("  ", 1) for line in data.decode().splitlines())
    }


def bytecode_name(name):
    """Where the bytecode of source `name` goes: __pycache__/NAME.TAG.pyc beside it."""
    head, tail = os.path.split(name)
    return os.path.join(head, "__pycache__", "%s.%s.pyc" % (tail[:-3], boot.TAG))


def _cached_code(name):
    pyc = bytecode_name(name)
    data = pyc in cache[1] and checked(pyc)
    if not data or data[:4] != boot.MAGIC_NUMBER:
        return None
    return marshal.loads(memoryview(data)[16:])


def replace_on_path(entry):
    """`entry` on sys.path where the zipapp was (first if it was not there)."""
    sys.path[:] = [entry if p and os.path.abspath(p) == archive else p for p in sys.path]
    if entry not in sys.path:
        sys.path.insert(0, entry)


def zip_data(name):
    """An entry of the zipapp itself."""
    loader = boot.__loader__
    return loader.get_data(os.path.join(getattr(loader, "archive", None) or archive, name))


def open_payload():
    """The payload, as a zipfile.ZipFile (opened once)."""
    global _payload
    if _payload is None:
        import io
        import zipfile

        _payload = zipfile.ZipFile(io.BytesIO(zip_data(PAYLOAD)))
    return _payload


def from_payload(name):
    """The bytes of file `name` of the payload; OSError (ENOENT) if there is none."""
    try:
        return open_payload().read(name)
    except KeyError:
        raise OSError(2, "not in the zipapp", name) from None  # ENOENT


def own_module(name):
    """This zipapp's module `name`, compiled from the payload (once). The modules that unpack and
    import from the zip are needed only by the runs that do so: kept out of the zipapp's own
    directory, which Python reads on every start, and out of this module, loaded on every start."""
    module = sys.modules.get(name)
    if module is None:
        module = type(sys)(name)
        module.__file__ = os.path.join(archive, PAYLOAD, name + ".py")
        sys.modules[name] = module
        try:
            exec(
                compile(from_payload(name + ".py"), module.__file__, "exec", dont_inherit=True),
                module.__dict__,
            )
        except BaseException:
            del sys.modules[name]
            raise
    return module


class _CacheFinder:
    """Finds this build's modules in the cache by the seal's names (nothing else there is ever
    imported), checking each package folder once."""

    def __init__(self, prefix):
        self.prefix = prefix  # "" or "package/sub/"

    @classmethod
    def hook(cls, path):
        target = cache[0]
        if path == target:
            return cls("")
        # a folder that has gone (the cache removed under a long run) is no danger: its files
        # then come from the zip
        if path.startswith(target + os.sep) and (boot.private(path) or not os.path.lexists(path)):
            return cls(path[len(target) + 1 :] + "/")
        raise ImportError("not this build's cache")

    def find_spec(self, fullname, target=None):
        folder, files = cache
        name = self.prefix + fullname.rpartition(".")[2]
        for path, package in ((name + "/__init__.py", True), (name + ".py", False)):
            if path in files:
                path = os.path.join(folder, path)
                spec = ModuleSpec(
                    fullname, _CacheLoader(fullname, path), origin=path, is_package=package
                )
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
        code = _cached_code(self.path[len(cache[0]) + 1 :])
        if code is None:
            return compile(self.get_data(self.path), self.path, "exec", dont_inherit=True)
        import _imp

        if hasattr(_imp, "_fix_co_filename"):  # as importlib does, should the folder have moved
            _imp._fix_co_filename(code, self.path)
        return code

    def get_data(self, path):
        name = os.path.relpath(path, cache[0])
        data = checked(name) if name in cache[1] else None
        return from_payload(name) if data is None else data

    def set_data(self, *args, **kwargs):
        pass  # the cache is written once, when unpacked
