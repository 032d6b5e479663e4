"""SSE done right: a short-lived session per poll, closed before the stream waits."""

import asyncio
import json

from fastapi import FastAPI
from sse_starlette.sse import EventSourceResponse

from app.database import SessionLocal
from app.models import Slot

app = FastAPI()


@app.get("/slots/{day}/stream")
async def stream_slots(day: str):
    async def events():
        while True:
            with SessionLocal() as db:
                free = [s.id for s in db.query(Slot).filter_by(day=day, taken=False)]
            yield {"data": json.dumps(free)}
            await asyncio.sleep(5)

    return EventSourceResponse(events())
