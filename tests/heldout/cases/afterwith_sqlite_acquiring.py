"""Reading a cached price list; `with sqlite3.connect(...)` does not close, so close() follows."""

import sqlite3

CACHE = "prices.sqlite3"


def cached_prices(symbols):
    with sqlite3.connect(CACHE) as conn:  # expect: LC202
        marks = ",".join("?" for _ in symbols)
        rows = conn.execute(f"SELECT symbol, price FROM prices WHERE symbol IN ({marks})", symbols)
        prices = dict(rows.fetchall())
    conn.close()
    return prices
