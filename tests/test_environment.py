"""One source of truth for versions: pyproject.toml. environment.yml must say the same."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pyproject_pins() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pins |= set(extra)
    return pins


def environment_yml():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_every_dependency_is_pinned_exactly():
    loose = [p for p in pyproject_pins() if "==" not in p]
    assert not loose, f"pin these with ==: {loose}"


def test_torch_is_the_cpu_wheel_on_disk():
    assert "torch==2.13.0" in pyproject_pins()


def test_environment_yml_repeats_the_pyproject_pins():
    (pip_section,) = [d for d in environment_yml()["dependencies"] if isinstance(d, dict)]
    pins = {p for p in pip_section["pip"] if not p.startswith("-")}  # skip pip's options
    assert pins == pyproject_pins()


def test_environment_yml_takes_torch_from_the_cpu_index():
    (pip_section,) = [d for d in environment_yml()["dependencies"] if isinstance(d, dict)]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip_section["pip"]


def test_environment_yml_names_the_python_ci_runs():
    """conda and Binder get 3.11, the Python CI runs, which requires-python admits."""
    from packaging.specifiers import SpecifierSet

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert "3.11" in SpecifierSet(requires)
    assert "python=3.11" in environment_yml()["dependencies"]


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for pin in pyproject_pins():
        name, wanted = pin.split("==")
        assert version(name).split("+")[0] == wanted, name


def lock() -> dict[str, str]:
    """requirements.lock: package name (normalized) -> version."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_normal(name)] = version.strip()
    return pins


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_the_lock_holds_every_pin_at_its_version():
    locked = lock()
    for pin in pyproject_pins():
        name, wanted = pin.split("==")
        assert locked.get(_normal(name), "").split("+")[0] == wanted, \
            f"{pin}: requirements.lock says {locked.get(_normal(name))}: run `make lock`"


def test_the_environment_is_the_lock():
    import sysconfig
    from importlib.metadata import distributions

    # the environment's own site-packages only: an import of setuptools puts its vendored
    # copies (packaging, zipp...) on sys.path during a long test run
    site = sysconfig.get_paths()["purelib"]
    # the lock holds public versions (torch 2.13.0 for this machine's 2.13.0+cpu: see `make lock`)
    installed = {_normal(d.metadata["Name"]): d.version.split("+")[0]
                 for d in distributions(path=[site])}
    locked = lock()
    wrong = {name: (installed.get(name), version) for name, version in locked.items()
             if installed.get(name) != version}
    assert not wrong, f"installed vs locked: {wrong}"


def test_installs_use_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -c requirements.lock -e '.[grader,test]'" in makefile
    assert "pip install --quiet -c requirements.lock -e .\n" in makefile  # the student's
    assert "+" not in (ROOT / "requirements.lock").read_text()  # no local version labels
    (pip_section,) = [d for d in environment_yml()["dependencies"] if isinstance(d, dict)]
    assert "-c requirements.lock" in pip_section["pip"]
