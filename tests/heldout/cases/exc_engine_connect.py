"""Health probe run by the load balancer every few seconds."""

from sqlalchemy import create_engine, text

engine = create_engine("postgresql+psycopg2://app@db/app", pool_size=5)


def replication_lag_seconds() -> float:
    conn = engine.connect()  # expect: LC202
    lag = conn.execute(
        text("SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())")
    ).scalar()
    conn.close()
    return float(lag or 0)
