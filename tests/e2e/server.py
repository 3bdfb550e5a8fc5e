"""Start the real `smartreply serve` in a subprocess on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(data_dir: Path, *args: str, timeout: float = 120.0) -> Iterator[tuple[str, Path]]:
    """Yield (base_url, log_path) of a live server; stop it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    log_path = data_dir / f"server-{port}.log"
    env = {**os.environ, "SMARTREPLY_DATA_DIR": str(data_dir), "SMARTREPLY_ARTIFACTS_DIR": str(REPO / "artifacts"),
           "SMARTREPLY_PORT": str(port), "SMARTREPLY_HOST": "127.0.0.1"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "service", "serve", *args], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not healthy after {timeout}s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
