"""`smartreply keys …` through the CLI runner."""

from __future__ import annotations

from typer.testing import CliRunner

from knowledge_base.keys import KeyRing
from knowledge_base.store import KbStore
from service.cli import app


def test_create_list_revoke(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTREPLY_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    op = runner.invoke(app, ["keys", "create-operator"])
    assert op.exit_code == 0 and op.stdout.startswith("sr_op_")
    shop = runner.invoke(app, ["keys", "create", "--shop", "s1", "--scope", "agent", "--name", "desk 1"])
    assert shop.exit_code == 0 and shop.stdout.startswith("sr_s1_")
    ring = KeyRing(KbStore.for_sqlite_file(tmp_path / "smartreply.db"))
    info = ring.verify(shop.stdout.strip())
    assert info.shop_id == "s1" and info.scopes == {"agent"} and ring.verify(op.stdout.strip()).is_operator
    listed = runner.invoke(app, ["keys", "list", "--shop", "s1"])
    assert info.key_id in listed.stdout and shop.stdout.strip() not in listed.stdout and "desk 1" in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", info.key_id, "--shop", "s1"]).exit_code == 0
    assert ring.verify(shop.stdout.strip()) is None
    bad = runner.invoke(app, ["keys", "create", "--shop", "s1", "--scope", "owner"])
    assert bad.exit_code == 1 and "scopes" in bad.stderr
