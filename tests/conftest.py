"""Shared fixtures: the real data folder, the tiny test config, the workflow as users run it.

The library is imported as the installed package (``pip install -e .``).
"""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SHARED_DATA = REPO.parent / "shared" / "data"
TEST_CONFIG = REPO / "tests" / "configs" / "test.yaml"


def require_shared(*parts: str) -> Path:
    """Path inside ../shared/data, or skip the test with the reason it cannot run."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (see ../shared/data/README.md)")
    return path


def pytest_configure(config):
    """Torch on one thread in the test process: the tests' networks are tiny, so a second
    OpenMP thread gains little alone and, on a busy 2-core machine or beside a second pytest
    worker, spins against the other work and makes training steps several times slower."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def shared_data():
    return require_shared()


def run_snakemake(*args, cwd=REPO, check=True, env=None):
    """The workflow as a user runs it (2 cores); a failure shows the end of its output."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "2", *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


#: segmentation of the real yeast fields (``yeast_fields/``): cells found on the cytosolic RFP
YEAST_FIELD_SEGMENTATION = {
    "channel": "rfp",
    "method": "cells_watershed",
    "smoothing_sigma": 1.0,
    "min_area": 100,
    "clear_border": True,
    "watershed_min_distance": 7,
}
