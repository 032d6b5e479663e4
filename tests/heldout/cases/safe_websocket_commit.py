"""A websocket that commits after each message: nothing held while it waits."""

from fastapi import Depends, FastAPI, WebSocket
from sqlalchemy.orm import Session

from app.database import SessionLocal
from app.models import Vote

app = FastAPI()


def get_db():
    with SessionLocal() as db:
        yield db


@app.websocket("/polls/{poll_id}")
async def poll_socket(websocket: WebSocket, poll_id: int, db: Session = Depends(get_db)):
    await websocket.accept()
    while True:
        choice = await websocket.receive_text()
        db.add(Vote(poll_id=poll_id, choice=choice))
        db.commit()
        await websocket.send_text("ok")
