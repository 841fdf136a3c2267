"""The installed package as users get it (the wheel in .venv-edge, the editable install in .venv-dev):
one import package `pibokeh`, data shipped inside it, every module importable on its own, no import
circle, the runtime free of the converter and TensorFlow, commands independent of each other."""
from __future__ import annotations

import ast
import functools
import json
import site
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path

import pibokeh
import pibokeh.convert
import pytest

from tests import helpers

PACKAGE_DIRS = {"pibokeh": Path(pibokeh.__path__[0]), "pibokeh.convert": Path(pibokeh.convert.__path__[0])}
MAX_LINES = 420


@functools.cache  # the installed package does not change during a run
def modules() -> dict[str, Path]:
    """Every module of the installed package: dotted name -> source file."""
    found = {}
    for prefix, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if prefix == "pibokeh" and parts[:1] == ["convert"]:
                continue  # the converter, when it lives under the runtime's folder (wheel)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """The pibokeh modules (and top-level third-party packages) that module `name` imports."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    known = modules()
    return {n for n in found if n in known} | {n.split(".")[0] for n in found if not n.startswith("pibokeh")}


@functools.cache
def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path) - {name} for name, path in modules().items()}


def test_one_import_package_and_nothing_named_edge_or_convert(tmp_path):
    code = ("import importlib.util as u, json, pibokeh, pibokeh.convert; "
            "print(json.dumps([u.find_spec('edge') is None, u.find_spec('convert') is None, "
            "pibokeh.__file__, pibokeh.convert.__file__]))")
    no_edge, no_convert, runtime, converter = json.loads(subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True).stdout)
    assert no_edge and no_convert, "a top-level `edge` or `convert` is importable"
    # the installed distribution (not a pibokeh.egg-info that a build may leave in the checkout)
    dist = next(metadata.distributions(name="pibokeh", path=site.getsitepackages()))
    files = [str(f) for f in dist.files or []]
    if any("__editable__" in f for f in files):  # a checkout: pibokeh maps onto edge/ and convert/
        assert Path(runtime).parent.name == "edge" and Path(converter).parent.name == "convert"
    else:  # the wheel: site-packages holds pibokeh/ (and its dist-info), nothing else of ours
        tops = {f.split("/")[0] for f in files if not f.startswith("..")}
        assert tops == {"pibokeh", f"pibokeh-{dist.version}.dist-info"}, tops
        assert Path(converter).parent.parent == Path(runtime).parent


def test_package_data_ships_inside_the_package():
    registry = json.loads(resources.files("pibokeh.models").joinpath("registry.json").read_text())
    zoo = json.loads(resources.files("pibokeh.models").joinpath("zoo.json").read_text())
    assert registry["models"] and zoo["models"]
    page = resources.files("pibokeh.camera").joinpath("static/index.html").read_text()
    assert "stream.mjpg" in page


RUNTIME = [n for n in modules() if not n.startswith("pibokeh.convert")]


@pytest.fixture(scope="module")
def imported_alone(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every runtime module imported in an interpreter of its own."""
    return helpers.imported_alone(RUNTIME, tmp_path_factory.mktemp("imports"))


@pytest.mark.parametrize("name", RUNTIME)
def test_every_runtime_module_imports_on_its_own(name, imported_alone):
    proc = imported_alone[name]
    assert proc.returncode == 0, proc.stderr


def test_no_import_circle():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges.get(node, ()):
            if other not in edges:
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            # a package's __init__ importing its own modules is not a circle
            if len(component) > 1:
                circles.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    assert circles == []


def test_the_runtime_never_imports_the_converter_or_tensorflow():
    for name, imported in graph().items():
        if not name.startswith("pibokeh.convert"):
            assert not {i for i in imported if i.startswith("pibokeh.convert") or i in ("tensorflow", "keras")}, name


def test_commands_import_no_command_and_only_the_cli_imports_commands():
    for name, imported in graph().items():
        commands = {i for i in imported if i.startswith("pibokeh.commands.")}
        if name.startswith("pibokeh.commands."):
            assert not commands, f"{name} imports {commands}"
        elif name != "pibokeh.cli":
            assert not commands, f"{name} imports {commands}"


def test_modules_stay_small():
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_python_dash_m_pibokeh(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pibokeh", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and "camera" in proc.stdout and "bench" in proc.stdout


def test_tests_and_scripts_import_the_package_not_the_folders():
    """From the repository root `edge` and `convert` happen to be importable folders; code must not
    rely on it (an installed pibokeh has neither)."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in sorted([*root.glob("tests/**/*.py"), *root.glob("scripts/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in ("edge", "convert")]
    assert offenders == []


def _imports_under(prefix: str) -> dict[str, set[str]]:
    return {name: imported for name, imported in graph().items() if name == prefix or name.startswith(prefix + ".")}


@pytest.mark.parametrize("room, forbidden", [
    ("pibokeh.media", ("pibokeh.model", "pibokeh.camera", "pibokeh.chain", "pibokeh.engine")),
    ("pibokeh.model", ("pibokeh.media", "pibokeh.camera", "pibokeh.chain", "pibokeh.engine")),
    ("pibokeh.core", ("pibokeh.media", "pibokeh.model", "pibokeh.camera", "pibokeh.chain")),
    ("pibokeh.styles", ("pibokeh.media", "pibokeh.model", "pibokeh.camera", "pibokeh.core")),
])
def test_rooms_keep_to_their_layer(room, forbidden):
    """media (frames in and out) and model (backends) never import each other or the camera; the core
    is pure functions on arrays and imports neither."""
    offenders = {name: sorted(i for i in imported if i.startswith(forbidden))
                 for name, imported in _imports_under(room).items()}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_import_pibokeh_is_lazy(tmp_path):
    """`import pibokeh` loads none of the heavy libraries: the front door's names load on first use,
    so the commands' --help costs what it did before."""
    code = ("import sys, pibokeh; print(sorted(m for m in ('numpy', 'cv2', 'av', 'pibokeh.api') if m in sys.modules)); "
            "pibokeh.blur; print('numpy' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert proc.stdout.split("\n")[:2] == ["[]", "True"], proc.stdout
