"""Start the real `smartreply serve` in a subprocess on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY

REPO = Path(__file__).resolve().parents[2]
__all__ = ["free_port", "ServerProcess", "start_server", "running_server", "OPERATOR_HEADERS", "OPERATOR_KEY"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    base: str
    log_path: Path

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 15 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, exactly like a crash or the OOM killer."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def start_server(data_dir: Path, *args: str, timeout: float = 120.0, env: dict[str, str] | None = None) -> ServerProcess:
    """Start a server and wait until /healthz answers; the caller stops (or kills) it."""
    port = free_port()
    log_path = data_dir / f"server-{port}.log"
    full_env = {**os.environ, "SMARTREPLY_DATA_DIR": str(data_dir), "SMARTREPLY_ARTIFACTS_DIR": str(REPO / "artifacts"),
                "SMARTREPLY_PORT": str(port), "SMARTREPLY_HOST": "127.0.0.1",
                "SMARTREPLY_OPERATOR_KEY": OPERATOR_KEY, **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "service", "serve", *args], cwd=REPO, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(proc=proc, base=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not healthy after {timeout}s:\n{log_path.read_text()}")
            time.sleep(0.2)
    except BaseException:
        server.kill()
        raise


@contextmanager
def running_server(data_dir: Path, *args: str, timeout: float = 120.0,
                   env: dict[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """Yield (base_url, log_path) of a live server; stop it (SIGTERM, then SIGKILL) afterwards."""
    server = start_server(data_dir, *args, timeout=timeout, env=env)
    try:
        yield server.base, server.log_path
    finally:
        server.stop()
