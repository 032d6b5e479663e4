"""Unit of work over a session factory; `__exit__` commits or rolls back, then closes."""

from app.database import SessionLocal


class UnitOfWork:
    def __enter__(self):
        self.session = SessionLocal()  # expect: LC202
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.session.commit()
        else:
            self.session.rollback()
        self.session.close()
