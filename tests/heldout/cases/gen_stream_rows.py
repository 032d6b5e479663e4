"""A generator streaming rows one by one; it closes only after the last row."""

import mysql.connector


def stream_users(config: dict):
    connection = mysql.connector.connect(**config)  # expect: LC207
    cursor = connection.cursor(dictionary=True)
    cursor.execute("SELECT * FROM user_data")
    for row in cursor:
        yield row
    cursor.close()
    connection.close()
