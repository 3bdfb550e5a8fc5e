"""The harness runs the pipeline in process: it must not pull in the web framework, nor the service's
composition root (tests/test_layering.py checks the imports themselves)."""

from __future__ import annotations

import subprocess
import sys

from tests.test_layering import REPO, imported_roots

WEB = {"fastapi", "starlette", "uvicorn"}


def test_eval_imports_no_web_framework():
    for path in (REPO / "eval").glob("*.py"):  # the harness modules (eval/bench drives a server on purpose)
        assert not imported_roots(path) & WEB, f"{path.relative_to(REPO)} imports the web framework"


def test_running_the_harness_loads_no_web_framework():
    code = ("import sys, eval.runner, eval.systems, eval.faq, eval.intent, eval.reply, eval.matching, eval.replay, "
            "eval.report; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{sorted(WEB)!r} or m.startswith(('service.runtime', 'service.api', 'service.cli', 'service.app'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
