"""Server-Sent Events of a clinic's free slots (incident 2), as it was: the stream polls through the
request's session, so every open stream pins one pooled connection for as long as it stays open.
"""

from __future__ import annotations

import asyncio
import json
import os

from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

POLL_INTERVAL = float(os.environ.get("POLL_INTERVAL", "2"))

engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1),
    pool_size=int(os.environ.get("DB_POOL_SIZE", "5")),
    max_overflow=int(os.environ.get("DB_MAX_OVERFLOW", "10")),
    pool_timeout=float(os.environ.get("DB_POOL_TIMEOUT", "30")),
)
SessionLocal = sessionmaker(bind=engine)

app = FastAPI(title="clinic")


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


def _load_days_raw(db: Session, clinic_id: int) -> list[dict[str, object]]:
    rows = db.execute(
        text("SELECT day, free FROM slots WHERE clinic_id = :clinic ORDER BY day"),
        {"clinic": clinic_id},
    )
    return [{"day": row.day.isoformat(), "free": row.free} for row in rows]


@app.get("/clinics/{clinic_id}/days/stream")
async def stream_days(clinic_id: int, polls: int = 0, db: Session = Depends(get_db)):
    async def event_gen():
        sent = 0
        while polls == 0 or sent < polls:
            yield f"data: {json.dumps(_load_days_raw(db, clinic_id))}\n\n"  # expect: LC401
            sent += 1
            await asyncio.sleep(POLL_INTERVAL)

    return StreamingResponse(event_gen(), media_type="text/event-stream")
