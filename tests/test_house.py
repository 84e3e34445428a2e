"""The house rules a newcomer can rely on: small modules, commands that do not lean on each other,
no import cycles, a thin cli/applications.py, and start-up that imports only what the command in hand needs."""

import ast
import os
import subprocess
import sys

import pytest

from helpers import ROOT

PACKAGE = ROOT / "lib" / "kubectl_usercert"
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path):
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).replace(".__init__", "")


def imports_at_load(path):
    """The package modules `path` imports when it is loaded (imports inside functions are lazy, by design)."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("kubectl_usercert"):
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if any(module_name(m) == candidate for m in MODULES) else base)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("kubectl_usercert")}
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_long(path):
    assert len(path.read_text().splitlines()) <= 300


def test_cli_is_thin():
    assert len((PACKAGE / "cli" / "applications.py").read_text().splitlines()) < 300


def test_no_command_module_imports_another():
    commands = {module_name(p) for p in (PACKAGE / "commands").glob("*.py") if p.name != "__init__.py"}
    for path in (PACKAGE / "commands").glob("*.py"):
        leaning = imports_at_load(path) & (commands - {module_name(path)})
        assert not leaning, f"{path.name} imports {leaning}"


def test_no_import_cycle():
    graph = {module_name(p): imports_at_load(p) for p in MODULES}

    def visit(name, trail):
        assert name not in trail, " -> ".join(trail + [name])
        for following in graph.get(name, ()):
            visit(following, trail + [name])

    for name in graph:
        visit(name, [])


@pytest.mark.parametrize("args, unwanted", [
    (["--version"], ("rich", "yaml", "kubectl_usercert.commands", "kubectl_usercert.pki.openssl")),
    (["--help"], ("rich", "yaml", "kubectl_usercert.commands", "kubectl_usercert.pki.openssl")),
    (["create", "--help"], ("rich", "yaml", "kubectl_usercert.commands")),
])
def test_start_up_imports_only_what_the_command_needs(args, unwanted):
    code = ("import sys; from kubectl_usercert import cli\n"
            "try:\n    cli.main(['kubectl-usercert'] + sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(repr(sorted(m for m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT / "lib")))
    loaded = result.stderr
    assert result.returncode == 0 and loaded.startswith("["), loaded
    for module in unwanted:
        assert f"'{module}'" not in loaded and f"'{module}." not in loaded, module
