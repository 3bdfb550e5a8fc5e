"""The Alembic migrations build exactly the schema of ``knowledge_base.tables.metadata`` (a new table or
column without a migration fails here), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from knowledge_base.engine import MIGRATIONS
from knowledge_base.store import KbStore
from knowledge_base.tables import metadata


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


def _open_store_at_the_barrier(path: str, barrier) -> None:  # noqa: ANN001 - a multiprocessing Barrier
    from knowledge_base.store import KbStore

    barrier.wait()  # every process imported and ready: they migrate at the same moment
    KbStore.for_sqlite_file(Path(path)).close()


def test_processes_starting_at_once_on_a_new_sqlite_file_all_open_it(tmp_path):
    """Two build processes of `bench-shops` once both ran create_all on a new file ("table shops
    already exists"); the migration now takes SQLite's write lock first."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for trial in range(3):
        barrier = ctx.Barrier(4)
        procs = [ctx.Process(target=_open_store_at_the_barrier, args=(str(tmp_path / f"t{trial}" / "db.sqlite"), barrier))
                 for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
