"""CSV download: rows are read by the handler, then streamed out."""

import csv
import io

from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.database import SessionLocal
from app.models import Payment

app = FastAPI()


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


def to_csv(payments):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for p in payments:
        writer.writerow([p.id, p.amount, p.created])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)


@app.get("/payments.csv")
def export_payments(
    month: str,
    db: Session = Depends(get_db),  # expect: LC403
):
    payments = db.scalars(select(Payment).where(Payment.month == month)).all()
    return StreamingResponse(to_csv(payments), media_type="text/csv")
