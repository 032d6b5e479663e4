"""The HTTP API: plain endpoints and Server-Sent Events of free slots (incident 2)."""

from __future__ import annotations

import asyncio
import json

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from . import bookings, members
from .db import SessionLocal, get_db, get_report_db

POLL_INTERVAL = 2.0

app = FastAPI(title="clinic")


def _load_days(db: Session, clinic_id: int) -> list[dict]:
    rows = db.execute(
        text("SELECT day, free FROM slots WHERE clinic_id = :clinic ORDER BY day"),
        {"clinic": clinic_id},
    )
    return [{"day": row.day.isoformat(), "free": row.free} for row in rows]


@app.get("/clinics/{clinic_id}/days")
def days(clinic_id: int, db: Session = Depends(get_db)) -> list[dict]:
    found = _load_days(db, clinic_id)
    if not found:
        raise HTTPException(status_code=404, detail="no such clinic")
    return found


@app.get("/clinics/{clinic_id}/days/stream")
async def stream_days(clinic_id: int, db: Session = Depends(get_report_db)):
    async def event_gen():
        while True:
            yield f"data: {json.dumps(_load_days(db, clinic_id))}\n\n"  # expect: LC401
            await asyncio.sleep(POLL_INTERVAL)

    return StreamingResponse(event_gen(), media_type="text/event-stream")


@app.get("/clinics/{clinic_id}/days/live")
async def live_days(clinic_id: int):
    async def event_gen():
        while True:
            with SessionLocal() as db:
                found = _load_days(db, clinic_id)
            yield f"data: {json.dumps(found)}\n\n"
            await asyncio.sleep(POLL_INTERVAL)

    return StreamingResponse(event_gen(), media_type="text/event-stream")


@app.post("/slots/{slot_id}/bookings", status_code=201)
def book(slot_id: int, user_id: int, seats: int = 1) -> dict[str, int]:
    try:
        return {"id": bookings.create_booking(user_id, slot_id, seats)}
    except bookings.SlotFull:
        raise HTTPException(status_code=409, detail="slot is full") from None


@app.get("/members/{telegram_id}")
def member(telegram_id: int) -> dict:
    found = members.get_member(telegram_id)
    if found is None:
        raise HTTPException(status_code=404)
    return found
