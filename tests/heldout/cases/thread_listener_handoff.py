"""LISTEN on a pooled connection, then hand it to a listener thread that puts it back."""

import threading

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 4, "dbname=events")


def listen_forever(conn, channel):
    try:
        while True:
            conn.poll()
    finally:
        pool.putconn(conn)


def start_listener(channel: str) -> threading.Thread:
    conn = pool.getconn()  # expect: LC102
    conn.autocommit = True
    conn.cursor().execute(f"LISTEN {channel}")
    listener = threading.Thread(target=listen_forever, args=(conn, channel), daemon=True)
    listener.start()
    return listener
