"""Issue 12's incident: the connection is handed to a worker thread that closes it."""

import threading

import psycopg2


def consume(conn):
    try:
        while True:
            conn.poll()
    finally:
        conn.close()


def run(dsn):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    worker = threading.Thread(target=consume, args=(conn,))
    worker.start()
    return worker
