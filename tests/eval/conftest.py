from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "eval"
# The real data is read by path, never copied into the repository; CI has ../shared beside the repo.
SHARED_DATA = Path(os.environ.get("SMARTREPLY_EVAL_DATA", REPO.parent / "shared" / "data"))


# JDDC writes desensitised values as placeholders ([数字x], emoji codes #E-s[数字x]). The committed
# fixtures hold plain values, so that no tracked data file can be mistaken for a copy of the real
# logs; the loaders' placeholder handling is exercised by putting the format's markers back here.
_PLACEHOLDERS = {
    "chat_log.txt": [("我买的3件", "我买的[数字x]件"), ("\t好的\n", "\t#E-s[数字x]\n")],
    "dev_answer.txt": [("预计3天送达", "预计[数字x]天送达"), ("好的<sep>再见", "#E-s33<sep>再见")],
}


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fixtures") / FIXTURES.name  # runs name data files by folder/file
    root.mkdir()
    for source in FIXTURES.iterdir():
        data = source.read_bytes()
        for plain, marked in _PLACEHOLDERS.get(source.name, []):
            assert plain.encode() in data, f"{source.name} no longer contains {plain!r}"
            data = data.replace(plain.encode(), marked.encode(), 1)
        (root / source.name).write_bytes(data)
    return root


def require_shared(*relative: str) -> list[Path]:
    """The real data files, or a skip that says what is missing and where it was looked for."""
    paths = [SHARED_DATA / r for r in relative]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"real evaluation data not found ({', '.join(missing)}); set SMARTREPLY_EVAL_DATA or put "
                    f"the shared data at {SHARED_DATA}")
    return paths


@pytest.fixture
def cli(tmp_path, monkeypatch, fixtures):
    """``smartreply …`` through typer's runner, with the fixtures as the data root."""
    from typer.testing import CliRunner

    from service.cli import app

    monkeypatch.setenv("SMARTREPLY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SMARTREPLY_EVAL_DATA", str(fixtures))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))
