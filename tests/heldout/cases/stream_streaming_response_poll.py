"""Progress of an import streamed as text lines, re-reading the job row each second."""

import asyncio

from fastapi import Depends, FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app.database import SessionLocal
from app.models import ImportJob

app = FastAPI()


def get_session():
    session = SessionLocal()
    try:
        yield session
    finally:
        session.close()


@app.get("/imports/{job_id}/progress")
async def import_progress(job_id: int, session: Session = Depends(get_session)):
    async def lines():
        while True:
            job = session.get(ImportJob, job_id)  # expect: LC401
            session.expire(job)
            yield f"{job.done}/{job.total}\n"
            if job.done >= job.total:
                break
            await asyncio.sleep(1)

    return StreamingResponse(lines(), media_type="text/plain")
