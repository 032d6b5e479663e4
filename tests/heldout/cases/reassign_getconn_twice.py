"""Two lookups, two connections, one name: the first connection is lost."""

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 5, "dbname=crm")


def contact_card(contact_id: int) -> dict:
    conn = pool.getconn()  # expect: LC105
    cur = conn.cursor()
    cur.execute("SELECT name, email FROM contacts WHERE id = %s", (contact_id,))
    name, email = cur.fetchone()
    conn = pool.getconn()  # expect: LC102
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM deals WHERE contact_id = %s", (contact_id,))
    (deals,) = cur.fetchone()
    pool.putconn(conn)
    return {"name": name, "email": email, "deals": deals}
