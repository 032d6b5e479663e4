"""Guest display page: one existence check on the request's session, then an endless stream."""

import asyncio

from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from app.broadcast import subscribe
from app.database import SessionLocal
from app.models import Event

app = FastAPI()


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@app.get("/events/{code}/stream")
async def event_stream(
    code: str,
    db: Session = Depends(get_db),  # expect: LC403
):
    if db.query(Event).filter_by(code=code).first() is None:
        raise HTTPException(status_code=404)

    async def updates():
        async for message in subscribe(code):
            yield {"data": message}
            await asyncio.sleep(0)

    return EventSourceResponse(updates())
