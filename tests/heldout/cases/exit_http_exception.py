"""FastAPI endpoint that opens its own session and raises 404 on a miss."""

from fastapi import APIRouter, HTTPException

from app.database import SessionLocal
from app.models import Patient

router = APIRouter()


@router.get("/patients/{patient_id}")
def read_patient(patient_id: int):
    db = SessionLocal()  # expect: LC203
    patient = db.get(Patient, patient_id)
    if patient is None:
        raise HTTPException(status_code=404, detail="patient not found")
    payload = {"id": patient.id, "name": patient.name}
    db.close()
    return payload
