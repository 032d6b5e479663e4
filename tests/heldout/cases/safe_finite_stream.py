"""A finite streaming read inside a generator that owns its session."""

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from app.database import SessionLocal
from app.models import Event

app = FastAPI()


def event_lines():
    with SessionLocal() as db:
        for event in db.scalars(select(Event).order_by(Event.id)).yield_per(500):
            yield f"{event.id},{event.kind}\n"


@app.get("/events.csv")
def events_csv():
    return StreamingResponse(event_lines(), media_type="text/csv")
