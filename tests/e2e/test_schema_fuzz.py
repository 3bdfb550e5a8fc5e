"""Property-based run of the OpenAPI schema (schemathesis) against a real server: no 5xx, ever."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO_FAQ
from tests.e2e.server import OPERATOR_HEADERS, start_server

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 10  # per operation and phase; the whole run stays well under 90 s on 2 cores


def test_schemathesis_finds_no_server_error(tmp_path, real_encoder):
    cli = Path(sys.executable).parent / "schemathesis"
    if not cli.exists() and not shutil.which("schemathesis"):
        pytest.fail("schemathesis is not installed: .venv/bin/pip install -e '.[test]'")
    server = start_server(tmp_path, env={"SMARTREPLY_RATE_LIMIT_PER_SECOND": "0", "SMARTREPLY_LOG_LEVEL": "WARNING"})
    try:
        with open(DEMO_FAQ, "rb") as fh:
            assert httpx.post(f"{server.base}/v1/shops/fuzz/kb", files={"file": (DEMO_FAQ.name, fh)},
                              headers=OPERATOR_HEADERS, timeout=120).status_code == 201
        key = httpx.post(f"{server.base}/v1/shops/fuzz/keys", json={"scopes": ["admin"]},
                         headers=OPERATOR_HEADERS).json()["key"]
        # Every operation on the shop the key belongs to (random shop ids would only meet the tenant check).
        (tmp_path / "schemathesis.toml").write_text('[parameters]\n"path.shop_id" = "fuzz"\n', "utf-8")
        run = subprocess.run(
            [str(cli) if cli.exists() else "schemathesis", "run", f"{server.base}/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", str(MAX_EXAMPLES), "--phases", "examples,coverage,fuzzing",
             "--header", f"Authorization: Bearer {key}", "--generation-database", "none", "--seed", "7",
             "--request-timeout", "20", "--no-color"],
            cwd=tmp_path, capture_output=True, text=True, timeout=150)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-6000:]
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text("utf-8"), server.log_path.read_text("utf-8")[-4000:]
