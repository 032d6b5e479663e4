"""A chat websocket that stores messages through the request's session without committing."""

from fastapi import Depends, FastAPI, WebSocket
from sqlalchemy.orm import Session

from app.database import SessionLocal
from app.models import Message

app = FastAPI()


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@app.websocket("/rooms/{room}")
async def room_socket(websocket: WebSocket, room: str, db: Session = Depends(get_db)):  # expect: LC402
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        db.add(Message(room=room, text=text))
        db.flush()
        await websocket.send_text(text)
