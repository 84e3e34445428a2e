"""kubectl-usercert as a zipapp: what Python runs first. It must parse on any Python 3, so that it
can say which version it needs; the rest is in _kubectl_usercert_zipapp.py (the boot)."""

import sys

BOOT = "_kubectl_usercert_zipapp"


def load_boot(loader):
    """The boot module from the zipapp `loader` (a zipimporter), with one compile, where an import
    would compile it twice (zipimport compiles a module once more to find its __file__). The
    completion helper (kubectl_complete-usercert, beside the zipapp) loads it with this, too."""
    boot = type(sys)(BOOT)
    boot.__file__, boot.__loader__ = loader.archive + "/" + BOOT + ".py", loader
    sys.modules[BOOT] = boot
    code = compile(loader.get_data(BOOT + ".py"), boot.__file__, "exec", dont_inherit=True)
    exec(code, boot.__dict__)
    return boot


if __name__ == "__main__":
    if sys.version_info < (3, 9):
        sys.stderr.write(
            "error: kubectl-usercert needs Python 3.9 or newer, python3 here is %d.%d\n"
            "hint: install a newer python3 and put it first on PATH\n" % sys.version_info[:2]
        )
        sys.exit(1)
    load_boot(__loader__).run()
