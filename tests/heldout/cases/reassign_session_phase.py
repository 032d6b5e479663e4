"""An import in two phases, each with a fresh session bound to the same name."""

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from models import Customer, ImportRun

engine = create_engine("postgresql://app@db/app")


def import_customers(rows: list[dict]) -> None:
    session = Session(engine)  # expect: LC205
    run = ImportRun(total=len(rows))
    session.add(run)
    session.commit()
    session = Session(engine)  # expect: LC202
    session.add_all(Customer(**row) for row in rows)
    session.commit()
    session.close()
