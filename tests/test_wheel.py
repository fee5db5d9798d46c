"""Packaging: the built wheel holds every subpackage and data file, and works installed.

The wheel is built from a copy of this checkout (so the build leaves no ``build/`` folder
behind and no stale build output can hide a missing file), then unpacked and run with
only the unpacked wheel on ``PYTHONPATH``: what runs is what ``pip install mien`` gets,
not the editable checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "mien"


def _shipped_sources() -> list[str]:
    """Every file under src/mien a wheel must hold, as wheel paths (``mien/...``)."""
    files = []
    for path in PACKAGE.rglob("*"):
        rel = path.relative_to(PACKAGE.parent)
        if path.is_dir() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if any(part.startswith(".") for part in rel.parts):  # editor and OS droppings
            continue
        files.append(rel.as_posix())
    return sorted(files)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    setuptools = version("setuptools")
    if int(setuptools.split(".")[0]) < 77:
        pytest.fail(
            f"setuptools {setuptools} cannot build mien (pyproject needs >= 77); "
            f"run: {sys.executable} -m pip install 'setuptools>=77'"
        )
    src = tmp_path_factory.mktemp("source")
    for item in ROOT.iterdir():  # pyproject.toml and the files it names (README, LICENSE, ...)
        if item.is_file() and not item.name.startswith("."):
            shutil.copy2(item, src / item.name)
    shutil.copytree(ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    wheels = list(out.glob("mien-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def names(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_wheel_ships_the_data_files(names):
    samples = {n for n in names if n.startswith("mien/data/samples/") and n.endswith(".jpg")}
    assert samples == {f"mien/data/samples/{p.name}" for p in (PACKAGE / "data" / "samples").glob("*.jpg")}
    assert len(samples) >= 4  # `mien demo` needs a neutral and a happy photo per person
    for pattern in ("*.npz", "*.tflite"):
        on_disk = {f"mien/data/{p.name}" for p in (PACKAGE / "data").glob(pattern)}
        assert on_disk and on_disk <= names, pattern
    assert "mien/data/emotions.json" in names


def test_wheel_ships_every_subpackage(names):
    packages = sorted(p.parent for p in PACKAGE.rglob("__init__.py") if "__pycache__" not in p.parts)
    assert {PACKAGE, PACKAGE / "io", PACKAGE / "evaluation"} <= set(packages)
    for package in packages:
        init = (package / "__init__.py").relative_to(PACKAGE.parent).as_posix()
        assert init in names, f"{init} is missing from the wheel"
    assert "mien/__main__.py" in names and "mien/cli.py" in names


def test_wheel_ships_every_file_under_src(names):
    """Any file added under src/mien (a new module, model or web asset) must ship."""
    missing = [f for f in _shipped_sources() if f not in names]
    assert not missing, f"not in the wheel: {missing}; see [tool.setuptools] in pyproject.toml"


def test_demo_runs_from_the_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    out = tmp_path / "demo-out"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    # `python -m mien demo -o OUT`, after checking that the import comes from the wheel.
    script = textwrap.dedent("""
        import runpy, sys
        from pathlib import Path

        site, out = Path(sys.argv[1]).resolve(), sys.argv[2]

        def check():
            for name, module in list(sys.modules.items()):
                if name == "mien" or name.startswith("mien."):
                    where = getattr(module, "__file__", None)
                    if where and site not in Path(where).resolve().parents:
                        sys.exit(f"{name} was imported from {where}, not from the wheel in {site}")

        import mien
        check()
        sys.argv = ["mien", "demo", "-o", out]
        try:
            runpy.run_module("mien", run_name="__main__", alter_sys=True)
        finally:
            check()
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(site), PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        [sys.executable, "-c", script, str(site), str(out)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"mien demo from the wheel failed:\n{result.stdout}\n{result.stderr}"
    sheet = out / "contact-sheet.png"
    assert sheet.is_file(), result.stderr
    with Image.open(sheet) as im:
        assert im.format == "PNG" and min(im.size) >= 320
    assert list(out.glob("*.jpg")), "the demo wrote no edited photo"
    assert "contact sheet:" in result.stderr
