"""The Alembic migrations build exactly the schema of ``knowledge_base.store.metadata`` (a new table or
column without a migration fails here), on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from knowledge_base.store import MIGRATIONS, KbStore, metadata


def test_migrations_match_the_metadata(tmp_path, database_url):
    url = database_url or f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")  # the migrations themselves, not create_all
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    store = KbStore(url)  # a migrated database is recognised as current
    store.close()
    engine.dispose()
