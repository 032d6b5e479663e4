"""The usual FastAPI dependency, and an endpoint using it."""

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session

from app.database import SessionLocal
from app.models import Clinic

app = FastAPI()


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@app.get("/clinics")
def list_clinics(db: Session = Depends(get_db)):
    return [c.name for c in db.query(Clinic).order_by(Clinic.name)]
