"""A Telegram bot's storage: connection and cursor in one `with`, never put back."""

from psycopg2.extras import RealDictCursor
from psycopg2.pool import ThreadedConnectionPool


class Storage:
    def __init__(self, dsn: str) -> None:
        self.pool = ThreadedConnectionPool(1, 5, dsn)

    def user_language(self, chat_id: int) -> str:
        with self.pool.getconn() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:  # expect: LC101
            cur.execute("SELECT language FROM users WHERE chat_id = %s", (chat_id,))
            row = cur.fetchone()
        return row["language"] if row else "en"
