"""An optional session parameter: opened and closed here only when the caller gave none."""

from app.database import SessionLocal
from app.models import Invoice


def invoice_total(invoice_id: int, session=None) -> float:
    owned = session is None
    if owned:
        session = SessionLocal()
    try:
        return session.get(Invoice, invoice_id).total
    finally:
        if owned:
            session.close()
