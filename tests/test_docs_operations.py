"""docs/operations.md cannot drift from the cluster's configuration: every HAProxy directive in
scripts/haproxy.cfg and every setting the cluster work added is explained there."""

from __future__ import annotations

import re

from service.config import Settings
from tests.conftest import REPO

DOC = (REPO / "docs" / "operations.md").read_text("utf-8")
README = (REPO / "README.md").read_text("utf-8")
SECTIONS = {"global", "defaults", "frontend", "backend", "listen"}
TWO_WORDS = {"option", "timeout", "http-request", "http-response", "http-check", "stats", "no"}


def directives() -> set[str]:
    out = set()
    for line in (REPO / "scripts" / "haproxy.cfg").read_text("utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] in SECTIONS:
            continue
        # `http-request set-var(txn.shop) …` → "http-request set-var": the action, not its arguments
        out.add(" ".join(w.split("(")[0] for w in words[:2]) if words[0] in TWO_WORDS else words[0])
    return out


def test_every_haproxy_directive_is_explained():
    found = directives()
    assert {"hash-balance-factor", "retry-on", "http-reuse", "option redispatch", "http-request disable-l7-retry",
            "stick-table", "option httpchk"} <= found
    missing = sorted(d for d in found if d not in DOC)
    assert not missing, f"scripts/haproxy.cfg directives not explained in docs/operations.md: {missing}"


def test_every_environment_variable_of_the_haproxy_config_is_set_by_the_cluster():
    from service.cluster import ClusterSpec, haproxy_env

    config = "\n".join(line.split("#", 1)[0] for line in (REPO / "scripts" / "haproxy.cfg").read_text("utf-8").splitlines())
    used = set(re.findall(r"\$\{(\w+)", config))
    assert used == set(haproxy_env(ClusterSpec(directory=REPO / "var" / "x"), REPO / "var" / "x" / "s.sock"))


def test_the_cluster_settings_are_documented():
    for name in ("index_artifacts", "shutdown_drain_seconds"):
        assert name in Settings.model_fields
        env = f"SMARTREPLY_{name.upper()}"
        assert env in DOC and env in README, env
