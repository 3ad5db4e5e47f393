"""The locks in requirements/ agree with pyproject.toml, so a dependency changed there without `./heed lock` fails CI.

Every install path (./heed, .ci/run through it, the Dockerfile) installs from these files; they are read here as
text, without a network.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCKS = REPO / "requirements"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CUDA_PACKAGES = ("nvidia-", "triton")  # what PyPI's torch for Linux pulls in; the CPU build needs none of them


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> Version:
        (specifier,) = self.requirement.specifier
        return Version(specifier.version)


def read_lock(name: str) -> list[Pin]:
    """The entries of requirements/<name>, each `name==version [; marker]` followed by its `--hash` options."""
    text = (LOCKS / name).read_text().replace("\\\n", " ")
    pins = []
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        requirement, _, options = line.partition(" --")
        hashes = tuple(option.removeprefix("--hash=") for option in f"--{options}".split() if options)
        pins.append(Pin(Requirement(requirement), hashes))
    return pins


def pinned_versions(lock: str) -> dict[str, set[Version]]:
    """Package -> its pinned versions (more than one where the lock forks on the Python version)."""
    versions: dict[str, set[Version]] = {}
    for pin in read_lock(lock):
        versions.setdefault(pin.name, set()).add(pin.version)
    return versions


def extra_requirements(extra: str) -> list[Requirement]:
    """What installing heed[extra] asks for by name, following the extras that include others (heed[train])."""
    requirements: dict[str, Requirement] = {}
    for text in PYPROJECT["project"]["optional-dependencies"][extra]:
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) == "heed":
            requirements |= {str(r): r for included in requirement.extras for r in extra_requirements(included)}
        else:
            requirements[str(requirement)] = requirement
    return list(requirements.values())


def pyproject_torch_version() -> Version:
    (torch,) = [r for r in extra_requirements("dev") if r.name == "torch"]
    (specifier,) = torch.specifier
    assert specifier.operator == "==", "pyproject.toml pins torch exactly: a range admits PyPI's CUDA build"
    return Version(specifier.version)


@pytest.mark.parametrize("lock", ["serve.txt", "dev.txt", "build.txt", "uv.txt"])
def test_every_entry_is_an_exact_version_with_its_hashes(lock: str) -> None:
    pins = read_lock(lock)
    assert pins, f"{lock} pins nothing"
    for pin in pins:
        specifiers = list(pin.requirement.specifier)
        assert [s.operator for s in specifiers] == ["=="] and "*" not in specifiers[0].version, f"{lock}: {pin.name}"
        assert pin.hashes, f"{lock}: {pin.name} has no hash"
        assert all(h.startswith("sha256:") and len(h) == 7 + 64 for h in pin.hashes), f"{lock}: {pin.name}"


def lock_problems(requirements: list[Requirement], lock: str) -> list[str]:
    """Each requirement the lock does not pin, or pins at a version the requirement does not allow."""
    versions = pinned_versions(lock)
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in versions:
            problems.append(f"{requirement} is not in {lock}")
        problems += [
            f"{lock} pins {name} {version}, outside {requirement}"
            for version in versions.get(name, ())
            if not requirement.specifier.contains(version, prereleases=True)
        ]
    return problems


@pytest.mark.parametrize(("extra", "lock"), [("serve", "serve.txt"), ("dev", "dev.txt")])
def test_every_dependency_of_the_extra_is_pinned_at_a_version_pyproject_allows(extra: str, lock: str) -> None:
    problems = lock_problems(extra_requirements(extra), lock)
    assert problems == [], f"pyproject.toml's {extra} extra and {lock} disagree (run ./heed lock): {problems}"


def test_the_check_catches_a_dependency_added_or_raised_without_relocking() -> None:
    (onnxruntime,) = pinned_versions("serve.txt")["onnxruntime"]
    drifted = [Requirement("heed-no-such-package>=1"), Requirement(f"onnxruntime>{onnxruntime}")]
    assert len(lock_problems(drifted, "serve.txt")) == 2


def test_the_serving_lock_has_no_torch() -> None:
    names = pinned_versions("serve.txt")
    assert "torch" not in names
    assert not [name for name in names if name.startswith(CUDA_PACKAGES)]


def test_the_dev_lock_has_torchs_cpu_build_of_the_pinned_version_and_no_cuda_packages() -> None:
    versions = pinned_versions("dev.txt")
    (torch,) = versions["torch"]
    assert torch.local == "cpu" and Version(torch.public) == pyproject_torch_version()
    assert not [name for name in versions if name.startswith(CUDA_PACKAGES)]
    lines = (LOCKS / "torch-cpu.txt").read_text().splitlines()
    (constraint,) = [Requirement(line) for line in lines if line[:1].isalpha()]
    assert constraint.specifier.contains(torch), "requirements/torch-cpu.txt and the dev lock disagree"


@pytest.mark.parametrize("lock", ["serve.txt", "build.txt"])
def test_what_is_served_and_built_is_what_the_tests_ran_against(lock: str) -> None:
    dev = pinned_versions("dev.txt")
    for name, versions in pinned_versions(lock).items():
        if name in dev:
            assert versions == dev[name], f"{lock} pins {name} {versions}, the dev lock {dev[name]}"


def test_the_build_lock_satisfies_heeds_build_system() -> None:
    versions = pinned_versions("build.txt")
    for text in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in versions and all(requirement.specifier.contains(v) for v in versions[name]), requirement
