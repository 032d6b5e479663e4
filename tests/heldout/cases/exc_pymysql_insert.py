"""Order intake writing to MySQL with PyMySQL."""

import pymysql

from config import MYSQL


def record_order(order):
    conn = pymysql.connect(**MYSQL)  # expect: LC202
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO orders (customer, amount) VALUES (%s, %s)",
            (order.customer, order.amount),
        )
    conn.commit()
    conn.close()
