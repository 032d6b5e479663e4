"""An ingestion service holding a sessionmaker; sessions opened per call."""

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from models import Reading


class ReadingIngest:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_pre_ping=True)
        self.Session = sessionmaker(bind=self.engine)

    def store(self, sensor_id: int, value: float) -> int:
        session = self.Session()  # expect: LC202
        reading = Reading(sensor_id=sensor_id, value=value)
        session.add(reading)
        session.commit()
        new_id = reading.id
        session.close()
        return new_id
