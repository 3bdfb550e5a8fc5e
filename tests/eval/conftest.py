from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "eval"
# The real data is read by path, never copied into the repository; CI has ../shared beside the repo.
SHARED_DATA = Path(os.environ.get("SMARTREPLY_EVAL_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def require_shared(*relative: str) -> list[Path]:
    """The real data files, or a skip that says what is missing and where it was looked for."""
    paths = [SHARED_DATA / r for r in relative]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"real evaluation data not found ({', '.join(missing)}); set SMARTREPLY_EVAL_DATA or put "
                    f"the shared data at {SHARED_DATA}")
    return paths
