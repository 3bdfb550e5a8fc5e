"""Start a server process on a free 127.0.0.1 port, wait until healthy, measure its memory, stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

__all__ = ["RunningServer", "free_port", "running_process", "memory_of", "work_folder"]

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningServer:
    base_url: str
    pid: int
    log_path: Path


@contextmanager
def work_folder(work_dir: Path | None, prefix: str) -> Iterator[Path]:
    """``work_dir`` (created, kept afterwards) or a temporary folder removed at the end."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_of(pid: int) -> dict[str, float]:
    """RSS and PSS (MiB) of a process and its children: PSS splits shared pages (mmap'd indexes,
    the model) between the processes that map them, so it is the honest total for several workers."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    rss = pss = 0.0
    for p in procs:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return {"rss_mib": round(rss / 2**20, 1), "pss_mib": round(pss / 2**20, 1), "processes": len(procs)}


@contextmanager
def running_process(argv: Sequence[str], *, env: dict[str, str], port: int, log_path: Path,
                    timeout: float = 180.0, health: str = "/healthz") -> Iterator[RunningServer]:
    """Run ``argv`` (a server listening on ``port``) until the block ends; SIGTERM, then SIGKILL."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(list(argv), cwd=REPO, env={**os.environ, **env}, stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[2:4]} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(base + health, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not healthy after {timeout}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield RunningServer(base_url=base, pid=proc.pid, log_path=log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def python() -> str:
    return sys.executable
