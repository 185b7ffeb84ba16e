"""Fixtures for the stack tests: the templates built once per session, as dicts and as files."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks import BUILDERS
from stacks.__main__ import build
from stacks.params import STACK_ORDER, BuildParams


@pytest.fixture(scope="session")
def build_params() -> BuildParams:
    return BuildParams()


@pytest.fixture(scope="session")
def templates(build_params: BuildParams) -> dict[str, dict]:
    return {name: BUILDERS[name](build_params).to_dict() for name in STACK_ORDER}


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory, build_params: BuildParams) -> Path:
    out = tmp_path_factory.mktemp("stacks-build")
    build(build_params, out)
    return out
