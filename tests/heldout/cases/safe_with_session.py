"""Context-managed session: closed on every path."""

from app.database import SessionLocal
from app.models import Coupon


def redeem(code: str) -> bool:
    with SessionLocal() as db:
        coupon = db.query(Coupon).filter_by(code=code, used=False).first()
        if coupon is None:
            return False
        coupon.used = True
        db.commit()
        return True
