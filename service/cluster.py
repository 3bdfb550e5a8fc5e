"""A local cluster on one machine: PostgreSQL, N ``smartreply serve`` replicas (each with its own data
directory: nothing shared but the database) and HAProxy in front (``scripts/haproxy.cfg``), all on
127.0.0.1. ``smartreply cluster start|stop|status`` (and ``scripts/cluster.sh``, which installs the
Debian packages first) drive it; the cluster benchmark and ``tests/e2e/test_cluster.py`` use it too.

Ports: the front is ``base_port``, HAProxy's stats page ``base_port + 1`` (``/metrics`` for
Prometheus), replica i (1-based) ``base_port + 1 + i``. The cluster's folder holds ``cluster.json``
(ports, process ids, logs: what ``stop`` and ``status`` read), the operator key (``operator-key``,
mode 600), the rendered ``haproxy.cfg``, each replica's data directory ``r<i>/`` and the logs.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from knowledge_base.importer import pid_alive
from models.errors import ClusterError

__all__ = ["ClusterSpec", "ClusterError", "start_cluster", "stop_cluster", "cluster_status", "read_state",
           "restart_haproxy", "render_haproxy_config", "haproxy_env", "free_port_run", "REPO", "HAPROXY_TEMPLATE"]

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
HAPROXY_TEMPLATE = REPO / "scripts" / "haproxy.cfg"
SERVERS_MARKER = "    # @SERVERS@"
STATE_FILE = "cluster.json"


@dataclass
class ClusterSpec:
    directory: Path
    replicas: int = 2
    base_port: int = 8080
    # Empty: start (and later stop) a throwaway PostgreSQL on pg_port with scripts/install_postgres.sh.
    database_url: str = ""
    pg_port: int = 54330
    workers_per_replica: int = 1
    rate_limit_per_second: float = 50.0  # enforced by HAProxy across replicas; 0 = no limit
    rate_limit_burst: int = 100
    balance: str = "hash"  # hash (consistent, on the shop id) | random
    hash_balance_factor: int = 125
    server_maxconn: int = 32
    drain_seconds: float = 2.0
    haproxy_threads: int = 1
    haproxy_log_level: str = "info"
    replica_env: dict[str, str] = field(default_factory=dict)  # more SMARTREPLY_* for every replica
    start_timeout: float = 300.0

    @property
    def front_port(self) -> int:
        return self.base_port

    @property
    def stats_port(self) -> int:
        return self.base_port + 1

    def replica_port(self, i: int) -> int:
        return self.base_port + 1 + i


def render_haproxy_config(replica_ports: list[int], template: Path = HAPROXY_TEMPLATE) -> str:
    """scripts/haproxy.cfg with one ``server`` line per replica. Explicit ids: several HAProxy instances
    with the same ids put every shop on the same replica (HAProxy's consistent hash is keyed by them)."""
    text = template.read_text("utf-8")
    if text.count(SERVERS_MARKER + "\n") != 1:
        raise ClusterError(f"{template} must hold the line {SERVERS_MARKER.strip()!r} exactly once")
    servers = "".join(f"    server r{i} 127.0.0.1:{port} id {i}\n" for i, port in enumerate(replica_ports, start=1))
    return text.replace(SERVERS_MARKER + "\n", servers)


def haproxy_env(spec: ClusterSpec, socket_path: Path) -> dict[str, str]:
    """The values scripts/haproxy.cfg reads from the environment."""
    rate, burst = spec.rate_limit_per_second, spec.rate_limit_burst
    if rate > 0:
        # A window of burst / rate seconds admitting `burst` requests: the token bucket's long-run rate
        # and burst (HAProxy rates are counted over whole milliseconds).
        window_ms = max(1, round(1000 * burst / rate))
    else:  # no limit: a counter that can never reach its bound
        window_ms, burst = 1000, 2**31 - 1
    balance = {"hash": "hash var(txn.shop)", "random": "random"}.get(spec.balance)
    if balance is None:
        raise ClusterError(f"balance must be 'hash' or 'random', not {spec.balance!r}")
    return {
        "SMARTREPLY_HAPROXY_BIND": f"127.0.0.1:{spec.front_port}",
        "SMARTREPLY_HAPROXY_STATS_BIND": f"127.0.0.1:{spec.stats_port}",
        "SMARTREPLY_HAPROXY_SOCKET": str(socket_path),
        "SMARTREPLY_HAPROXY_THREADS": str(spec.haproxy_threads),
        "SMARTREPLY_HAPROXY_LOG_LEVEL": spec.haproxy_log_level,
        "SMARTREPLY_HAPROXY_BALANCE": balance,
        "SMARTREPLY_HAPROXY_HASH_BALANCE_FACTOR": str(spec.hash_balance_factor),
        "SMARTREPLY_HAPROXY_SERVER_MAXCONN": str(spec.server_maxconn),
        "SMARTREPLY_HAPROXY_RATE_WINDOW": f"{window_ms}ms",
        "SMARTREPLY_RATE_LIMIT_PER_SECOND": f"{rate:g}",
        "SMARTREPLY_RATE_LIMIT_BURST": str(burst),
    }


def replica_env(spec: ClusterSpec, i: int, database_url: str, operator_key: str) -> dict[str, str]:
    rate, burst = spec.rate_limit_per_second, spec.rate_limit_burst
    return {
        "SMARTREPLY_HOST": "127.0.0.1",
        "SMARTREPLY_PORT": str(spec.replica_port(i)),
        "SMARTREPLY_DATA_DIR": str(spec.directory / f"r{i}"),
        "SMARTREPLY_DATABASE_URL": database_url,
        "SMARTREPLY_INDEX_ARTIFACTS": "database",
        "SMARTREPLY_OPERATOR_KEY": operator_key,
        "SMARTREPLY_ARTIFACTS_DIR": os.environ.get("SMARTREPLY_ARTIFACTS_DIR", str(REPO / "artifacts")),
        "SMARTREPLY_ACTIVE_VERSION_TTL": "1",
        "SMARTREPLY_SHUTDOWN_DRAIN_SECONDS": f"{spec.drain_seconds:g}",
        # HAProxy enforces the per-key limit across replicas; each replica's own bucket backs it at twice
        # the rate, for traffic that reaches a replica directly (it never binds first behind HAProxy).
        "SMARTREPLY_RATE_LIMIT_PER_SECOND": f"{2 * rate:g}",
        "SMARTREPLY_RATE_LIMIT_BURST": str(2 * burst),
        **spec.replica_env,
    }


def read_state(directory: Path) -> dict:
    path = directory / STATE_FILE
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ClusterError(f"no cluster at {directory} ({STATE_FILE} missing): start one with "
                           "`bash scripts/cluster.sh start N`") from None
    except ValueError as exc:
        raise ClusterError(f"{path} is not readable JSON: {exc}") from exc


def _write_state(directory: Path, state: dict) -> None:
    tmp = directory / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n", "utf-8")
    os.replace(tmp, directory / STATE_FILE)


def _alive(pid: int | None) -> bool:
    if not pid or not pid_alive(pid):
        return False
    try:  # a zombie (our own child that exited) is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def free_port_run(count: int, *, tries: int = 500) -> int:
    """A base port with ``count`` free ports from it on (127.0.0.1): for throwaway clusters."""
    rng = random.Random()
    for _ in range(tries):
        base = rng.randint(20_000, 60_000 - count)
        if not any(_port_in_use(base + i) for i in range(count)):
            return base
    raise ClusterError(f"no run of {count} free ports found on 127.0.0.1")


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - a local http:// URL
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def _operator_key(directory: Path) -> str:
    path = directory / "operator-key"
    if path.is_file():
        return path.read_text("utf-8").strip()
    key = f"sr_op_{secrets.token_urlsafe(32)}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key + "\n", "utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return key


def _postgres(spec: ClusterSpec, say: Callable[[str], None]) -> tuple[str, dict]:
    """The database URL, and how the cluster got it (whether ``stop`` should stop that PostgreSQL)."""
    if spec.database_url:
        return spec.database_url, {"started_by_cluster": False}
    running_before = _port_in_use(spec.pg_port)
    env = {**os.environ, "SMARTREPLY_PG_PORT": str(spec.pg_port), "SMARTREPLY_PG_DB": "smartreply_cluster"}
    say(f"PostgreSQL on 127.0.0.1:{spec.pg_port}" + (" (already running)" if running_before else ""))
    done = subprocess.run(["bash", str(REPO / "scripts" / "install_postgres.sh")], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise ClusterError(f"scripts/install_postgres.sh failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1], {"started_by_cluster": not running_before, "port": spec.pg_port}


def _spawn(argv: list[str], env: dict[str, str], log_path: Path) -> int:
    with open(log_path, "ab") as log:
        # A session of its own: the cluster outlives the command that started it, and a Ctrl-C in that
        # terminal does not reach it.
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid


def start_cluster(spec: ClusterSpec, say: Callable[[str], None] = lambda msg: None) -> dict:
    """Start PostgreSQL (unless a URL is given), the replicas, then HAProxy; wait until the front answers.
    Returns the state written to ``cluster.json``. On any failure, whatever was started is stopped."""
    if spec.replicas < 1:
        raise ClusterError("a cluster needs at least one replica")
    directory = spec.directory.resolve()
    spec.directory = directory
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / STATE_FILE).is_file():
        old = read_state(directory)
        if any(_alive(p) for p in _pids(old)):
            raise ClusterError(f"a cluster is already running from {directory}; stop it first "
                               "(`bash scripts/cluster.sh stop`)")
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise ClusterError("haproxy is not installed: run `bash scripts/install_haproxy.sh` (Debian's haproxy)")
    ports = [spec.front_port, spec.stats_port] + [spec.replica_port(i) for i in range(1, spec.replicas + 1)]
    busy = [p for p in ports if _port_in_use(p)]
    if busy:
        raise ClusterError(f"port(s) {', '.join(map(str, busy))} already in use on 127.0.0.1; choose another "
                           "base port (--base-port / SMARTREPLY_CLUSTER_BASE_PORT)")
    operator_key = _operator_key(directory)
    database_url, pg = _postgres(spec, say)
    state: dict = {"spec": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(spec).items()},
                   "front": f"http://127.0.0.1:{spec.front_port}", "stats": f"http://127.0.0.1:{spec.stats_port}",
                   "database_url": database_url, "postgres": pg, "operator_key_file": str(directory / "operator-key"),
                   "replicas": [], "haproxy": None}
    _write_state(directory, state)  # from here on, `stop` can undo what was started
    try:
        for i in range(1, spec.replicas + 1):
            (directory / f"r{i}").mkdir(exist_ok=True)
            log_path = directory / f"r{i}.log"
            env = {**os.environ, **replica_env(spec, i, database_url, operator_key)}
            argv = [sys.executable, "-m", "service", "serve", "--workers", str(spec.workers_per_replica)]
            pid = _spawn(argv, env, log_path)
            state["replicas"].append({"name": f"r{i}", "port": spec.replica_port(i), "pid": pid,
                                      "url": f"http://127.0.0.1:{spec.replica_port(i)}",
                                      "data_dir": str(directory / f"r{i}"), "log": str(log_path)})
            _write_state(directory, state)
        say(f"{spec.replicas} replica(s) starting (ports {spec.replica_port(1)}-{spec.replica_port(spec.replicas)})")
        _wait_healthy(state["replicas"], spec.start_timeout)
        config = directory / "haproxy.cfg"
        config.write_text(render_haproxy_config([r["port"] for r in state["replicas"]]), "utf-8")
        env = {**os.environ, **haproxy_env(spec, directory / "haproxy.sock")}
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(config)], env=env, capture_output=True, text=True,
                               check=False)
        if check.returncode != 0:
            raise ClusterError(f"haproxy refused {config}:\n{(check.stdout + check.stderr)[-2000:]}")
        pid = _spawn([haproxy, "-db", "-f", str(config)], env, directory / "haproxy.log")
        state["haproxy"] = {"pid": pid, "config": str(config), "log": str(directory / "haproxy.log"),
                            "socket": str(directory / "haproxy.sock")}
        _write_state(directory, state)
        _wait_front(state, pid, timeout=30.0)
    except BaseException:
        stop_cluster(directory)
        raise
    say(f"HAProxy front {state['front']} (stats {state['stats']}/), operator key in {state['operator_key_file']}")
    return state


def restart_haproxy(directory: Path, **changes: object) -> dict:
    """Restart HAProxy with some settings of the spec changed (e.g. ``balance="random"``); the replicas
    keep running, and what they have loaded."""
    directory = directory.resolve()
    state = read_state(directory)
    known = {k: v for k, v in state["spec"].items() if k != "directory"}
    unknown = set(changes) - set(known)
    if unknown:
        raise ClusterError(f"unknown cluster setting(s): {', '.join(sorted(unknown))}")
    spec = ClusterSpec(directory=directory, **{**known, **changes})
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise ClusterError("haproxy is not installed: run `bash scripts/install_haproxy.sh`")
    if state.get("haproxy"):
        _terminate(state["haproxy"]["pid"], signal.SIGUSR1, 10.0)
    env = {**os.environ, **haproxy_env(spec, directory / "haproxy.sock")}
    pid = _spawn([haproxy, "-db", "-f", state["haproxy"]["config"]], env, directory / "haproxy.log")
    state["haproxy"]["pid"] = pid
    state["spec"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(spec).items()}
    _write_state(directory, state)
    _wait_front(state, pid, timeout=30.0)
    return state


def _wait_healthy(replicas: list[dict], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(replicas)
    while waiting:
        for r in list(waiting):
            if not _alive(r["pid"]):
                tail = Path(r["log"]).read_text("utf-8", "replace")[-3000:]
                raise ClusterError(f"replica {r['name']} exited during start-up; end of {r['log']}:\n{tail}")
            if _http_status(r["url"] + "/healthz") == 200:
                waiting.remove(r)
        if waiting and time.monotonic() > deadline:
            raise ClusterError(f"replica(s) {', '.join(r['name'] for r in waiting)} not healthy after {timeout:g}s; "
                               f"see {waiting[0]['log']}")
        if waiting:
            time.sleep(0.25)


def _wait_front(state: dict, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _http_status(state["front"] + "/healthz") != 200:
        if not _alive(pid):
            raise ClusterError(f"haproxy exited; end of {state['haproxy']['log']}:\n"
                               + Path(state["haproxy"]["log"]).read_text("utf-8", "replace")[-2000:])
        if time.monotonic() > deadline:
            raise ClusterError(f"the HAProxy front {state['front']} did not answer /healthz within {timeout:g}s")
        time.sleep(0.1)


def _pids(state: dict) -> list[int]:
    pids = [r["pid"] for r in state.get("replicas", [])]
    if state.get("haproxy"):
        pids.append(state["haproxy"]["pid"])
    return pids


def _terminate(pid: int, sig: int, timeout: float) -> bool:
    """Send ``sig``, wait up to ``timeout`` s for the process to go, then SIGKILL. True if it had to be killed."""
    if not _alive(pid):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        _reap(pid)
        return True
    return False


def _reap(pid: int) -> None:
    try:  # our own child (tests, the benchmark): collect it so it does not linger as a zombie
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_cluster(directory: Path, say: Callable[[str], None] = lambda msg: None) -> None:
    """HAProxy first (soft stop: it stops listening and finishes its requests), then the replicas
    (SIGTERM: each drains and finishes what it is doing), then PostgreSQL if the cluster started it."""
    directory = directory.resolve()
    state = read_state(directory)
    drain = float(state.get("spec", {}).get("drain_seconds", 0))
    if state.get("haproxy") and _alive(state["haproxy"]["pid"]):
        say("stopping HAProxy")
        _terminate(state["haproxy"]["pid"], signal.SIGUSR1, 10.0)
    live = [r for r in state.get("replicas", []) if _alive(r["pid"])]
    if live:
        say(f"stopping {len(live)} replica(s)")
    for r in live:
        os.kill(r["pid"], signal.SIGTERM)
    for r in live:
        if _terminate(r["pid"], signal.SIGTERM, drain + 20.0):
            say(f"replica {r['name']} did not stop in time: killed")
    pg = state.get("postgres") or {}
    if pg.get("started_by_cluster"):
        say(f"stopping PostgreSQL on port {pg['port']}")
        env = {**os.environ, "SMARTREPLY_PG_PORT": str(pg["port"])}
        subprocess.run(["bash", str(REPO / "scripts" / "install_postgres.sh"), "stop"], env=env,
                       capture_output=True, check=False)
    (directory / STATE_FILE).unlink(missing_ok=True)


def cluster_status(directory: Path) -> dict:
    """Every part of the cluster: process alive, a replica's own /healthz, HAProxy's view of each server."""
    state = read_state(directory.resolve())
    servers = _haproxy_servers(state["stats"]) if state.get("haproxy") and _alive(state["haproxy"]["pid"]) else {}
    replicas = []
    for r in state.get("replicas", []):
        alive = _alive(r["pid"])
        replicas.append({"name": r["name"], "url": r["url"], "pid": r["pid"], "alive": alive,
                         "healthz": _http_status(r["url"] + "/healthz") if alive else None,
                         "haproxy": servers.get(r["name"], {})})
    hp = state.get("haproxy") or {}
    return {"front": state["front"], "stats": state["stats"], "database_url": _hide_password(state["database_url"]),
            "haproxy": {"pid": hp.get("pid"), "alive": _alive(hp.get("pid"))}, "replicas": replicas}


def _haproxy_servers(stats_url: str) -> dict[str, dict]:
    """Per server of the replicas backend: status (UP, DOWN, DRAIN, MAINT…), in-flight and total requests."""
    try:
        with urllib.request.urlopen(stats_url + "/;csv", timeout=2) as r:  # noqa: S310 - a local URL
            text = r.read().decode("utf-8")
    except (OSError, ValueError):
        return {}
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {row["svname"]: {"status": row["status"], "in_flight": int(row["scur"] or 0),
                            "requests": int(row["stot"] or 0)}
            for row in rows if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")}


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "<unparsable URL>"
