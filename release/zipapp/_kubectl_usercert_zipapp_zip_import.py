"""Where no cache can be used (see _kubectl_usercert_zipapp_runtime.py), kubectl-usercert's
modules are imported from the payload inside the zipapp, each compiled on every run: zipimport
cannot import from a zip inside a zip. Standard library and Python 3.9 only."""

import os
import sys

import _kubectl_usercert_zipapp_runtime as runtime

try:  # what importlib.machinery holds, without importing it (the completion helper has not)
    from _frozen_importlib import ModuleSpec
except ImportError:  # not CPython
    from importlib.machinery import ModuleSpec


def import_from_zip():
    """Import this build's modules from the payload in the zipapp, each compiled on every run."""
    location = os.path.join(runtime.archive, runtime.PAYLOAD)
    names = set(runtime.open_payload().namelist())

    def hook(path):
        if path == location:
            return _ZipFinder(location, names, "")
        if path.startswith(location + "/"):
            return _ZipFinder(location, names, path[len(location) + 1 :] + "/")
        raise ImportError("not this zipapp")

    sys.path_hooks.insert(0, hook)
    runtime.replace_on_path(location)


class _ZipFinder:
    def __init__(self, location, names, prefix):
        self.location, self.names, self.prefix = location, names, prefix

    def find_spec(self, fullname, target=None):
        name = self.prefix + fullname.rpartition(".")[2]
        for path, package in ((name + "/__init__.py", True), (name + ".py", False)):
            if path in self.names:
                spec = ModuleSpec(
                    fullname,
                    _ZipLoader(path),
                    origin=self.location + "/" + path,
                    is_package=package,
                )
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
        path = os.path.join(runtime.archive, runtime.PAYLOAD, self.name)
        return compile(runtime.from_payload(self.name), path, "exec", dont_inherit=True)

    def get_source(self, fullname):
        from importlib.util import decode_source

        return decode_source(runtime.from_payload(self.name))

    def get_data(self, path):
        prefix = os.path.join(runtime.archive, runtime.PAYLOAD) + "/"
        return runtime.from_payload(path[len(prefix) :] if path.startswith(prefix) else path)
