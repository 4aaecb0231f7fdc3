"""Docker-free Lambda bundling: pip installs manylinux wheels and copies the project's packages.

The asset holds ``functions/`` (the handlers), the core packages (``surge/``, ``reports/``) and their
dependencies, so the handler is ``functions.<state>.handler``. The dependency list comes from
pyproject.toml, the single source of truth, minus what the Lambda runtime provides.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

PYTHON_VERSION = "3.12"
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
PLATFORM = "manylinux2014_x86_64"  # must match ARCHITECTURE
RUNTIME_PROVIDED = frozenset({"boto3", "botocore"})
"""Shipped by the Lambda Python runtime: bundling them again would only add ~20 MB to every cold start
-- unless a bundled package pins botocore (aiobotocore does, exactly): its botocore lands in the asset,
which comes first on the path, and the runtime's boto3 would run on a botocore it was not released
with. Then boto3 is bundled too, resolved with the pin, so the asset holds a consistent pair."""
PINS_BOTOCORE = frozenset({"aiobotocore"})
BUILD_ONLY = ("setuptools", "pkg_resources", "_distutils_hack", "pbr", "pip", "wheel")
"""Pulled in by packages' install metadata (hdrhistogram requires pbr, which requires setuptools),
never imported at run time: ~9 MB of every cold start. Removed from the asset after pip."""
LAMBDA_ONLY_REQUIREMENTS = ("aws-lambda-powertools>=3.0",)
"""Used by the handlers (Logger with the run id; Metrics via EMF) but not by the CLI."""
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", "*.egg-info")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def lambda_requirements(pyproject: Path, extras: Sequence[str] = ("fast",)) -> list[str]:
    """The project's runtime dependencies (and the given extras) as pip requirement strings."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        requirements.extend(optional.get(extra, []))
    requirements.extend(LAMBDA_ONLY_REQUIREMENTS)
    if any(_name(req) in PINS_BOTOCORE for req in requirements):
        return requirements  # boto3 stays: pip resolves it with the pinned botocore
    return [req for req in requirements if _name(req) not in RUNTIME_PROVIDED]


def prune_build_only(out: Path) -> list[str]:
    """Remove BUILD_ONLY packages (and their metadata) from a built asset; returns what went."""
    removed = []
    for entry in sorted(out.iterdir()):
        stem = entry.name.split("-", 1)[0].removesuffix(".pth").removesuffix(".py")
        if stem.lower().replace("-", "_") in BUILD_ONLY or entry.name == "distutils-precedence.pth":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    return removed


@jsii.implements(cdk.ILocalBundling)
class PipLocalBundling:
    """Builds the asset on this machine; returning True tells CDK never to start Docker."""

    def __init__(
        self,
        *,
        functions_dir: Path,
        package_dirs: Sequence[Path],
        requirements: Sequence[str],
        skip_pip_install: bool,
    ) -> None:
        self.functions_dir = functions_dir
        self.package_dirs = tuple(package_dirs)
        self.requirements = tuple(requirements)
        self.skip_pip_install = skip_pip_install

    def try_bundle(self, output_dir: str, options: cdk.BundlingOptions) -> bool:
        out = Path(output_dir)
        if self.requirements and not self.skip_pip_install:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                    str(out),
                    "--platform",
                    PLATFORM,
                    "--implementation",
                    "cp",
                    "--python-version",
                    PYTHON_VERSION,
                    "--only-binary=:all:",
                    "--upgrade",
                    *self.requirements,
                ],
                check=True,
            )
            prune_build_only(out)
        shutil.copytree(self.functions_dir, out / "functions", dirs_exist_ok=True, ignore=IGNORED)
        for package in self.package_dirs:
            if not package.is_dir():  # a deploy without it would only fail at run time
                raise FileNotFoundError(f"Lambda asset: package directory {package} is missing")
            shutil.copytree(package, out / package.name, dirs_exist_ok=True, ignore=IGNORED)
        return True


def lambda_code(
    *,
    functions_dir: Path,
    package_dirs: Sequence[Path],
    pyproject: Path,
    skip_pip_install: bool = False,
) -> lambda_.Code:
    """One asset for every function: bundled once per synth, hashed on its output."""
    local = PipLocalBundling(
        functions_dir=functions_dir,
        package_dirs=package_dirs,
        requirements=lambda_requirements(pyproject),
        skip_pip_install=skip_pip_install,
    )
    return lambda_.Code.from_asset(
        str(functions_dir),
        # The output also depends on package_dirs and pyproject, which the source hash would miss.
        asset_hash_type=cdk.AssetHashType.OUTPUT,
        exclude=["__pycache__", "*.pyc"],
        bundling=cdk.BundlingOptions(
            image=RUNTIME.bundling_image,  # never pulled: local bundling always succeeds
            # jsii calls try_bundle(output_dir, options) positionally; its Python stub spells
            # the struct out as keywords, which no implementation can match for mypy.
            local=cast(cdk.ILocalBundling, local),
        ),
    )
