"""The release zipapp's boot and cache code (release/zipapp/), run in this process against folders in
tmp_path: what tests/test_release.py shows end to end through a real build, checked here case by case
in milliseconds. The zipapp is a small one that release/build.py's own code builds around stand-in
packages (tests/small_zipapp.py), so what runs is the built code (the boot with its build values
set), loaded as the zipapp loads it. Not marked `packaging`: nothing is installed or downloaded, and
this is the quick way to test a change to the boot or the cache."""

import importlib
import marshal
import os
import stat
import sys
import time
import zipimport
from pathlib import Path

import pytest

import small_zipapp
from small_zipapp import PROBE

BOOT = "_kubectl_usercert_zipapp"
RUNTIME, UNPACKING, ZIP_IMPORT = (
    BOOT + suffix for suffix in ("_runtime", "_unpacking", "_zip_import")
)
PAYLOAD = BOOT + ".zip"
TAMPERED = b'WHERE = "tampered!!"\n'  # as long as PROBE's __init__.py: only the stamp can tell


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return str(small_zipapp.build(tmp_path_factory.mktemp("zipapp")))


@pytest.fixture
def zipapp(app, tmp_path, monkeypatch):
    """The zipapp's boot (as __main__.py loads it) and runtime (as from the zip) in this process, with
    XDG_CACHE_HOME in tmp_path; whatever they change in sys is undone after the test."""
    for name in (BOOT, RUNTIME, UNPACKING, ZIP_IMPORT, "zipapp_probe", "zipapp_probe.sub"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "path", [app, *sys.path])
    monkeypatch.setattr(sys, "path_hooks", list(sys.path_hooks))
    monkeypatch.setattr(sys, "path_importer_cache", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    loader = zipimport.zipimporter(app)
    main = {"__name__": "not main"}
    exec(loader.get_data("__main__.py"), main)
    boot = main["load_boot"](loader)
    runtime = importlib.import_module(RUNTIME)
    runtime.archive = app
    return boot, runtime


def unpacked(zipapp):
    """Unpacks the build, as a first run does: (its folder, its seal)."""
    boot, runtime = zipapp
    assert runtime.own_module(UNPACKING).unpack()
    target, seal = boot.open_cache()
    return Path(target), seal


def import_probe(zipapp):
    """zipapp_probe and zipapp_probe.sub, imported as a run does: from the cache if it can be used."""
    boot, runtime = zipapp
    sealed = boot.open_cache()
    if not (sealed and runtime.use_cache(*sealed)):
        runtime.own_module(ZIP_IMPORT).import_from_zip()
    return importlib.import_module("zipapp_probe"), importlib.import_module("zipapp_probe.sub")


def modes(folder):
    return {
        str(path.relative_to(folder)): stat.S_IMODE(path.lstat().st_mode)
        for path in [folder, *folder.rglob("*")]
    }


def test_the_first_run_unpacks_a_private_sealed_copy_whatever_the_umask(zipapp, tmp_path):
    boot, _ = zipapp
    old = os.umask(0)
    try:
        target, seal = unpacked(zipapp)
    finally:
        os.umask(old)
    assert (
        target == tmp_path / "cache" / "kubectl-usercert" / "zipapp" / f"{boot.BUILD_ID}-{boot.TAG}"
    )
    assert boot.BUILD_ID == "0.0.0-" + boot.MANIFEST_SHA256[:16]
    for name, mode in modes(tmp_path / "cache").items():
        assert mode == (0o700 if (tmp_path / "cache" / name).is_dir() else 0o600), name
    assert (seal["build"], seal["manifest"], seal["magic"]) == (
        boot.BUILD_ID,
        boot.MANIFEST_SHA256,
        boot.MAGIC_NUMBER,
    )
    assert set(seal["files"]) == {
        str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()
    } - {boot.SEAL}
    assert seal["data"] == ["zipapp_probe/data.txt"]
    assert f"zipapp_probe/__pycache__/__init__.{boot.TAG}.pyc" in seal["files"]
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no staging folder left


def test_a_later_run_imports_the_sealed_bytecode(zipapp):
    boot, runtime = zipapp
    target, _ = unpacked(zipapp)
    probe, sub = import_probe(zipapp)
    assert (probe.WHERE, sub.WHERE) == ("the build", "the build, sub")
    assert probe.__file__ == str(target / "zipapp_probe" / "__init__.py")
    assert runtime._cached_code("zipapp_probe/sub.py") is not None  # what the loader ran
    assert boot.load(boot.open_cache(), RUNTIME).__file__ == str(target / (RUNTIME + ".py"))


@pytest.mark.parametrize("how", ["source, bytecode removed", "bytecode", "symlinked source"])
def test_a_changed_file_in_the_cache_is_not_run(zipapp, capsys, how):
    target, _ = unpacked(zipapp)
    source = target / "zipapp_probe" / "__init__.py"
    [pyc] = (target / "zipapp_probe" / "__pycache__").glob("__init__.*.pyc")
    if how == "source, bytecode removed":
        source.write_bytes(TAMPERED)
        pyc.unlink()
    elif how == "bytecode":
        code = compile(TAMPERED, str(source), "exec")
        pyc.write_bytes(pyc.read_bytes()[:16] + marshal.dumps(code))
    else:
        (target / "elsewhere.py").write_bytes(
            PROBE["zipapp_probe/__init__.py"]
        )  # the same bytes, even
        pyc.unlink()
        source.unlink()
        source.symlink_to(target / "elsewhere.py")
    probe, sub = import_probe(zipapp)
    assert probe.WHERE == "the build"  # the zip's copy
    assert sub.__file__ == str(target / "zipapp_probe" / "sub.py")  # the rest still from the cache
    assert (
        "is not what kubectl-usercert unpacked; using the zipapp's copy" in capsys.readouterr().err
    )


def test_a_file_copied_with_the_same_bytes_is_still_used(zipapp, capsys):
    target, _ = unpacked(zipapp)
    [pyc] = (target / "zipapp_probe" / "__pycache__").glob("__init__.*.pyc")
    data = pyc.read_bytes()
    pyc.unlink()
    pyc.write_bytes(
        data
    )  # a new inode and ctime: the stamp differs, the sha256 is the recorded one
    pyc.chmod(0o600)
    _, runtime = zipapp
    probe, _ = import_probe(zipapp)
    assert probe.__file__ == str(target / "zipapp_probe" / "__init__.py")
    assert runtime._cached_code("zipapp_probe/__init__.py") is not None
    assert capsys.readouterr().err == ""


def test_a_changed_data_file_sends_the_run_to_the_zip(zipapp, app):
    boot, runtime = zipapp
    target, seal = unpacked(zipapp)
    (target / "zipapp_probe" / "data.txt").write_bytes(b"data of someone else\n")
    assert runtime.use_cache(str(target), seal) is False and runtime.cache is None
    probe, _ = import_probe(zipapp)
    assert probe.__file__ == os.path.join(app, PAYLOAD, "zipapp_probe", "__init__.py")
    data = probe.__loader__.get_data(os.path.join(app, PAYLOAD, "zipapp_probe/data.txt"))
    assert data == PROBE["zipapp_probe/data.txt"]


def chmod(mode):
    return lambda path: path.chmod(mode)


def elsewhere(path):
    """`path` replaced by a symlink to a copy of it."""
    os.rename(path, str(path) + ".moved")
    path.symlink_to(str(path) + ".moved")


@pytest.mark.parametrize(
    "where, change",
    [
        ("build", chmod(0o770)),
        ("build", chmod(0o702)),
        ("build", elsewhere),
        ("zipapp", chmod(0o777)),
        ("zipapp", elsewhere),
        ("app", chmod(0o770)),
        ("root", chmod(0o757)),
        ("above", chmod(0o777)),
    ],
    ids=[
        "group-writable build folder",
        "world-writable build folder",
        "symlinked build folder",
        "world-writable zipapp folder",
        "symlinked zipapp folder",
        "group-writable kubectl-usercert folder",
        "world-writable cache root",
        "world-writable folder above the root",
    ],
)
def test_a_cache_others_could_change_is_not_opened(zipapp, tmp_path, where, change):
    boot, _ = zipapp
    target, _ = unpacked(zipapp)
    folders = {
        "build": target,
        "zipapp": target.parent,
        "app": target.parent.parent,
        "root": tmp_path / "cache",
        "above": tmp_path,
    }
    change(folders[where])
    try:
        assert boot.open_cache() is None
    finally:
        tmp_path.chmod(0o700)


def test_a_sticky_world_writable_folder_above_the_root_is_fine(zipapp, tmp_path):
    boot, _ = zipapp
    unpacked(zipapp)
    tmp_path.chmod(0o1777)  # as /tmp is
    try:
        assert boot.open_cache() is not None
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize("seal", ["of another build", "for another Python", "not one", "missing"])
def test_a_build_folder_without_its_own_seal_is_not_opened(zipapp, seal):
    boot, _ = zipapp
    target, _ = unpacked(zipapp)
    found = marshal.loads((target / boot.SEAL).read_bytes())
    if seal == "of another build":
        found["build"] = "0.0.0-0000000000000000"
    elif seal == "for another Python":
        found["magic"] = b"\0\0\r\n"
    (target / boot.SEAL).write_bytes(
        b"no marshal data" if seal == "not one" else marshal.dumps(found)
    )
    if seal == "missing":
        (target / boot.SEAL).unlink()
    assert boot.open_cache() is None


def test_a_planted_build_folder_is_replaced_by_a_real_one(zipapp, tmp_path):
    boot, _ = zipapp
    planted = tmp_path / "cache" / "kubectl-usercert" / "zipapp" / f"{boot.BUILD_ID}-{boot.TAG}"
    (planted / "zipapp_probe").mkdir(parents=True, mode=0o700)
    for folder in planted.parents:
        if folder == tmp_path:
            break
        folder.chmod(0o700)
    (planted / "zipapp_probe" / "__init__.py").write_bytes(TAMPERED)
    assert boot.open_cache() is None  # no seal: never used
    target, _ = unpacked(zipapp)
    assert target == planted
    probe, _ = import_probe(zipapp)
    assert probe.WHERE == "the build" and probe.__file__ == str(
        planted / "zipapp_probe" / "__init__.py"
    )


@pytest.mark.parametrize("where", ["cache root", "zipapp folder"])
def test_nothing_is_unpacked_into_a_folder_others_can_write_and_it_is_left_alone(
    zipapp, tmp_path, where
):
    _, runtime = zipapp
    folder = (
        tmp_path / "cache"
        if where == "cache root"
        else tmp_path / "cache" / "kubectl-usercert" / "zipapp"
    )
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    before = modes(tmp_path / "cache")
    assert runtime.own_module(UNPACKING).unpack() is False
    assert modes(tmp_path / "cache") == before


def test_the_cache_root_is_made_only_inside_a_folder_of_ones_own(zipapp, tmp_path, monkeypatch):
    _, runtime = zipapp
    unpacking = runtime.own_module(UNPACKING)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared / "cache"))
    assert unpacking.unpack() is False and list(shared.iterdir()) == []
    if os.geteuid() == 0:  # root with another user's XDG_CACHE_HOME (sudo -E)
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 12345, 12345)
        monkeypatch.setenv("XDG_CACHE_HOME", str(theirs / "cache"))
        assert unpacking.unpack() is False and list(theirs.iterdir()) == []


def test_a_manifest_that_is_not_the_builds_unpacks_nothing(zipapp, tmp_path, monkeypatch):
    boot, runtime = zipapp
    monkeypatch.setattr(boot, "MANIFEST_SHA256", "0" * 64)
    assert runtime.own_module(UNPACKING).unpack() is False
    assert (
        list((tmp_path / "cache" / "kubectl-usercert" / "zipapp").iterdir()) == []
    )  # staging removed


@pytest.mark.parametrize(
    "name", ["../escaped.py", "/tmp/escaped.py", "zipapp_probe//x.py", BOOT + ".seal"]
)
def test_a_manifest_naming_a_file_outside_the_folder_unpacks_nothing(
    zipapp, tmp_path, monkeypatch, name
):
    import hashlib

    boot, runtime = zipapp
    unpacking = runtime.own_module(UNPACKING)
    manifest = f"{'0' * 64}  {name}\n".encode()
    monkeypatch.setattr(
        runtime, "zip_data", lambda entry: manifest if entry == runtime.MANIFEST else b""
    )
    monkeypatch.setattr(boot, "MANIFEST_SHA256", hashlib.sha256(manifest).hexdigest())
    assert unpacking.unpack() is False
    zipapp_folder = tmp_path / "cache" / "kubectl-usercert" / "zipapp"
    assert list(zipapp_folder.iterdir()) == [] and not (zipapp_folder / "escaped.py").exists()


def test_other_builds_unused_for_a_month_and_abandoned_staging_are_removed(zipapp, tmp_path):
    _, runtime = zipapp
    folder = tmp_path / "cache" / "kubectl-usercert" / "zipapp"
    folder.mkdir(parents=True, mode=0o700)
    old, recent, abandoned, unpacking = (
        folder / name
        for name in ("0.0.1-old-tag", "0.0.2-recent-tag", ".0.0.3-x.abc", ".0.0.4-x.def")
    )
    for path, age in ((old, 31 * 86400), (recent, 29 * 86400), (abandoned, 7200), (unpacking, 60)):
        path.mkdir(mode=0o700)
        os.utime(path, (time.time() - age,) * 2)
    target, _ = unpacked(zipapp)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [target.name, recent.name, unpacking.name]
    )


def test_with_no_usable_cache_modules_come_from_the_zip(zipapp, app, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "/dev/null/cache")
    boot, runtime = zipapp
    assert runtime.own_module(UNPACKING).unpack() is False and boot.open_cache() is None
    probe, sub = import_probe(zipapp)
    assert (probe.WHERE, sub.WHERE) == ("the build", "the build, sub")
    assert sub.__file__ == os.path.join(app, PAYLOAD, "zipapp_probe", "sub.py")
    assert sys.modules[ZIP_IMPORT].__file__ == os.path.join(
        app, PAYLOAD, ZIP_IMPORT + ".py"
    )  # own_module's
