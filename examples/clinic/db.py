"""Database plumbing: a psycopg2 pool with context managers over it, and a SQLAlchemy engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg2.extensions import connection as PgConnection
from psycopg2.extensions import cursor as PgCursor
from psycopg2.extras import RealDictCursor
from psycopg2.pool import ThreadedConnectionPool
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://clinic@localhost/clinic")

pool = ThreadedConnectionPool(minconn=1, maxconn=20, dsn=DATABASE_URL)

engine = create_engine(
    DATABASE_URL.replace("postgresql://", "postgresql+psycopg2://", 1),
    pool_size=5,
    max_overflow=10,
    pool_pre_ping=True,
)
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def get_connection() -> Iterator[PgConnection]:
    """Commit on success, roll back on error, always give the connection back."""
    conn = pool.getconn()
    try:
        yield conn
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        pool.putconn(conn)


@contextmanager
def get_db_cursor(commit: bool = False) -> Iterator[PgCursor]:
    """Always use as `with get_db_cursor() as cur:`."""
    conn = pool.getconn()
    try:
        with conn.cursor(cursor_factory=RealDictCursor) as cur:
            yield cur
            if commit:
                conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        pool.putconn(conn)


def get_db() -> Iterator[Session]:
    """FastAPI dependency: one session per request."""
    db = SessionLocal()  # expect: LC207
    yield db
    db.close()


def get_report_db() -> Iterator[Session]:
    """The same, written right."""
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
