"""psycopg 3 pool: `pool.connection()` returns the connection when the block ends."""

from psycopg_pool import ConnectionPool

pool = ConnectionPool("dbname=library", max_size=8)


def borrow_book(book_id: int, member_id: int) -> None:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO loans (book_id, member_id) VALUES (%s, %s)", (book_id, member_id)
        )
