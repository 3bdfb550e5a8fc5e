from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import CharNgramEncoder

REPO = Path(__file__).resolve().parent.parent
DEMO_FAQ = REPO / "knowledge_base" / "demo" / "demo_shop.csv"
PARAPHRASES = REPO / "tests" / "data" / "demo_paraphrases.jsonl"
ARTIFACTS = REPO / "artifacts"


@pytest.fixture
def fake_encoder() -> CharNgramEncoder:
    return CharNgramEncoder()


@pytest.fixture(scope="session")
def real_encoder():
    """The real m3e-small int8 ONNX encoder from the repo's artifacts (exported once if missing)."""
    from models.encoder import load_encoder
    from models.errors import EncoderNotExported

    try:
        return load_encoder("m3e-small", backend="onnx", precision="int8", artifacts_dir=ARTIFACTS, threads=1)
    except EncoderNotExported:
        from training.export_onnx import export_encoder

        export_encoder("m3e-small", ARTIFACTS)
        return load_encoder("m3e-small", backend="onnx", precision="int8", artifacts_dir=ARTIFACTS, threads=1)


# The platform operator key the in-process API tests use (SMARTREPLY_OPERATOR_KEY): it may act on every
# shop, so tests of features other than tenancy need no per-shop keys. Tenancy is tested with shop keys.
OPERATOR_KEY = "sr_op_tests-only-operator-key"
# The API answers in Chinese by default; these tests read its English messages.
OPERATOR_HEADERS = {"Authorization": f"Bearer {OPERATOR_KEY}", "Accept-Language": "en"}


# -- database back ends ----------------------------------------------------------------------------
# Storage and API tests run on SQLite and, when SMARTREPLY_TEST_POSTGRES_DSN is set (scripts/test.sh
# sets it after scripts/install_postgres.sh), on PostgreSQL: each test gets a fresh database.
POSTGRES_DSN_VAR = "SMARTREPLY_TEST_POSTGRES_DSN"


@contextlib.contextmanager
def fresh_postgres_database(dsn: str) -> Iterator[str]:
    """A new empty database on the server of ``dsn`` (dropped afterwards); yields its URL."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(dsn, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(dsn).set(database=name).render_as_string(hide_password=False)
    finally:
        from sqlalchemy.exc import ProgrammingError

        # FORCE may not terminate an autovacuum worker that just entered the new database (it runs
        # as the superuser: "must be a member of the role whose process is being terminated"); it
        # leaves within moments, so try again.
        for attempt in range(20):
            try:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except ProgrammingError as exc:
                if "member of the role" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.25)
        admin.dispose()


def postgres_dsn_or_skip() -> str:
    dsn = os.environ.get(POSTGRES_DSN_VAR)
    if not dsn:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_DSN_VAR} (scripts/test.sh starts a server and sets it; "
                    "or run: export SMARTREPLY_TEST_POSTGRES_DSN=$(bash scripts/install_postgres.sh))")
    return dsn


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """'' (SQLite in the test's data dir) or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield ""
        return
    with fresh_postgres_database(postgres_dsn_or_skip()) as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database(postgres_dsn_or_skip()) as url:
        yield url
