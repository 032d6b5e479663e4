"""FastAPI booking endpoint whose `get_db` dependency closes the session after `yield` without
`finally` (incident 2's service, before the fix).

When the endpoint raises (a 409 for a full slot, a 404), FastAPI throws the exception into the
dependency at its `yield`, so `db.close()` never runs and the session's pooled connection stays
checked out.
"""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1),
    pool_size=int(os.environ.get("DB_POOL_SIZE", "5")),
    max_overflow=int(os.environ.get("DB_MAX_OVERFLOW", "10")),
    pool_timeout=float(os.environ.get("DB_POOL_TIMEOUT", "30")),
)
SessionLocal = sessionmaker(bind=engine)

app = FastAPI(title="bookings")


def get_db():
    db = SessionLocal()  # expect: LC207
    yield db
    db.close()


class BookingIn(BaseModel):
    user_id: int
    seats: int


@app.post("/slots/{slot_id}/bookings", status_code=201)
def book(slot_id: int, booking: BookingIn, db: Session = Depends(get_db)) -> dict[str, int]:
    free = db.execute(text("SELECT free FROM slots WHERE id = :id"), {"id": slot_id}).scalar()
    if free is None:
        raise HTTPException(status_code=404, detail="no such slot")
    if free < booking.seats:
        raise HTTPException(status_code=409, detail="slot is full")
    booking_id = db.execute(
        text(
            "INSERT INTO bookings (user_id, slot_id, seats) VALUES (:user, :slot, :seats)"
            " RETURNING id"
        ),
        {"user": booking.user_id, "slot": slot_id, "seats": booking.seats},
    ).scalar_one()
    db.commit()
    return {"id": booking_id}
