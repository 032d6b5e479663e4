"""A `session_scope()` helper exists; a maintenance task opens a bare session instead."""

from contextlib import contextmanager

from app.database import SessionLocal
from app.models import Token


@contextmanager
def session_scope():
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def expire_tokens(now) -> int:
    session = SessionLocal()  # expect: LC202
    count = session.query(Token).filter(Token.expires < now).delete()
    session.commit()
    session.close()
    return count
