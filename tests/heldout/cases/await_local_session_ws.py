"""A dashboard socket with its own session, closed at the end, used between receives."""

from fastapi import FastAPI, WebSocket

from app.database import SessionLocal
from app.models import Widget

app = FastAPI()


@app.websocket("/dashboard")
async def dashboard(websocket: WebSocket):
    await websocket.accept()
    db = SessionLocal()  # expect: LC402
    try:
        while True:
            widget_id = await websocket.receive_json()
            widget = db.get(Widget, widget_id["id"])
            await websocket.send_json({"id": widget.id, "value": widget.value})
    finally:
        db.close()
