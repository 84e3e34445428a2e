"""A small zipapp, built by release/build.py's own code around stand-ins for the package (in a few
milliseconds, without pip): `zipapp_probe`, a package with a data file for the cache tests, and a
`kubectl_usercert` whose cli and completion only say how they were called."""

import importlib.util
from pathlib import Path

import pytest

from helpers import ROOT

PROBE = {
    "zipapp_probe/__init__.py": b'WHERE = "the build"\n',
    "zipapp_probe/sub.py": b'WHERE = "the build, sub"\n',
    "zipapp_probe/data.txt": b"data of the build\n",
}
STAND_IN = {
    "kubectl_usercert/__init__.py": b"",
    "kubectl_usercert/cli/__init__.py": b"import sys\n\n\ndef main():\n    print('cli', sys.argv[1:], __file__)\n",
    "kubectl_usercert/cli/completion.py": b"def main(args):\n    print('completion', args, __file__)\n    return 0\n",
}


def release_builder():
    """release/build.py as a module (its own modules come from release/)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "release"))
        spec = importlib.util.spec_from_file_location(
            "release_build", ROOT / "release" / "build.py"
        )
        builder = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(builder)
    return builder


def build(folder, version="0.0.0"):
    """The zipapp folder/kubectl-usercert, and the completion helper beside it, as a release has them."""
    folder = Path(folder)
    for name, data in {**PROBE, **STAND_IN}.items():
        (folder / "site" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "site" / name).write_bytes(data)
    builder = release_builder()
    app = folder / "kubectl-usercert"
    app.write_bytes(builder.zipapp_bytes(str(folder / "site"), version, 0))
    app.chmod(0o755)
    (folder / "kubectl_complete-usercert").write_bytes(Path(builder.COMPLETER).read_bytes())
    (folder / "kubectl_complete-usercert").chmod(0o755)
    return app
