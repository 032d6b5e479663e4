"""Billing service on SQLAlchemy 2.0 with sessions opened by hand, as incident 2's write-up found.

`db = SessionLocal()` queried and returned without `close()`; `commit()` then `close()` with
nothing guarding the statements before it. A session that is not closed keeps its pooled
connection checked out until the garbage collector happens to break the session's reference
cycle (a session and its transaction point at each other).
"""

from __future__ import annotations

import os
from decimal import Decimal

from sqlalchemy import create_engine, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1),
    pool_size=int(os.environ.get("DB_POOL_SIZE", "5")),
    max_overflow=int(os.environ.get("DB_MAX_OVERFLOW", "10")),
    pool_timeout=float(os.environ.get("DB_POOL_TIMEOUT", "30")),
)
SessionLocal = sessionmaker(bind=engine)


class Base(DeclarativeBase):
    pass


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int]
    amount: Mapped[Decimal]
    paid: Mapped[bool]


def unpaid_total(customer_id: int) -> Decimal:
    db = SessionLocal()  # expect: LC201
    invoices = db.scalars(
        select(Invoice).where(Invoice.customer_id == customer_id, Invoice.paid.is_(False))
    ).all()
    return sum((invoice.amount for invoice in invoices), Decimal(0))


def mark_paid(invoice_id: int) -> None:
    db = SessionLocal()  # expect: LC202
    db.execute(update(Invoice).where(Invoice.id == invoice_id).values(paid=True))
    db.commit()
    db.close()


def ping() -> int:
    with SessionLocal() as db:
        return int(db.execute(text("SELECT 1")).scalar_one())
