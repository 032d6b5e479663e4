"""Listing tables for an admin page; the connection is closed only when the query fails."""

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

engine = create_engine("mysql+pymysql://admin@db/shop")


def table_names():
    conn = engine.connect()  # expect: LC203
    try:
        rows = conn.execute(text("SHOW TABLES")).fetchall()
    except SQLAlchemyError:
        conn.close()
        return []
    return [r[0] for r in rows]
