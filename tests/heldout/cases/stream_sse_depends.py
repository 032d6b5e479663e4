"""Live order board over Server-Sent Events, polling through the request's session."""

import asyncio
import json

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from app.database import SessionLocal
from app.models import Order

router = APIRouter()


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@router.get("/kitchen/{station}/orders/stream")
async def order_board(station: str, db: Session = Depends(get_db)):
    async def events():
        while True:
            open_orders = db.query(Order).filter_by(station=station, done=False).all()  # expect: LC401
            yield {"data": json.dumps([o.id for o in open_orders])}
            await asyncio.sleep(2)

    return EventSourceResponse(events())
