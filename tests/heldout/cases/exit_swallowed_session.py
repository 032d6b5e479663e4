"""Sensor pipeline: errors are logged and the reading dropped."""

import logging

from sqlalchemy.orm import sessionmaker

from db import engine
from models import TrafficSample

log = logging.getLogger(__name__)
Session = sessionmaker(bind=engine)


def ingest(sample: dict):
    try:
        session = Session()  # expect: LC203
        session.add(TrafficSample(**sample))
        session.commit()
        session.close()
    except Exception:
        log.exception("could not store sample %s", sample.get("id"))
        return None
    return sample["id"]
