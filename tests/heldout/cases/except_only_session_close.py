"""Marking a subscription cancelled; the session is closed only on failure."""

import logging

from app.database import SessionLocal
from app.models import Subscription

logger = logging.getLogger("billing")


def cancel_subscription(sub_id: int) -> bool:
    db = SessionLocal()  # expect: LC203
    try:
        sub = db.get(Subscription, sub_id)
        sub.status = "cancelled"
        db.commit()
    except Exception:
        db.rollback()
        db.close()
        logger.exception("cancel failed for %s", sub_id)
        return False
    return True
