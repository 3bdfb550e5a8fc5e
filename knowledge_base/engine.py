"""The database engine and its schema: ``make_engine`` (SQLite in WAL mode, or any SQLAlchemy URL) and
``migrate`` (Alembic, serialised between processes starting at once)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from .tables import metadata

__all__ = ["make_engine", "migrate", "MIGRATIONS"]


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migrate(engine: Engine) -> str:
    """Bring the database to the newest schema; returns the revision it is at.

    A database without ``alembic_version`` (new, or made before migrations existed) gets the tables
    it lacks from the metadata (``create_all``, which is exactly migration 0001) and is stamped; a
    stamped one is upgraded by Alembic. Processes starting at once are serialised: on PostgreSQL by
    an advisory lock, on SQLite by taking the database's write lock first (the second one waits, then
    finds the schema at head).
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")  # any fixed number: 'sr'
        elif conn.dialect.name == "sqlite":
            # pysqlite opens no transaction before DDL, so two processes on a new file both ran
            # create_all ("table shops already exists"). BEGIN IMMEDIATE takes the write lock now.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return head
        config.attributes["connection"] = conn
        if current is None:
            metadata.create_all(conn)
            command.stamp(config, "head")
        else:
            command.upgrade(config, "head")
    return head


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API types
            cursor = dbapi_conn.cursor()
            # WAL: readers (suggestions) never wait for a writer (an upload).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)
