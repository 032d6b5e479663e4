"""Price ticker: the handler passes its session to a polling generator of the module."""

import asyncio
import json

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from app.database import SessionLocal
from app.models import Quote

app = FastAPI()


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


async def poll_quotes(db: Session, symbol: str):  # expect: LC402
    while True:
        quote = db.query(Quote).filter_by(symbol=symbol).order_by(Quote.at.desc()).first()
        yield json.dumps({"symbol": symbol, "price": quote.price})
        await asyncio.sleep(1)


@app.get("/quotes/{symbol}/live")
async def live_quote(symbol: str, db: Session = Depends(get_db)):
    return EventSourceResponse(poll_quotes(db, symbol))  # expect: LC401
