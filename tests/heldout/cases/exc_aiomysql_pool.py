"""aiohttp handler reading a counter through an aiomysql pool kept on the app."""

from aiohttp import web


async def visit_count(request: web.Request) -> web.Response:
    pool = request.app["mysql_pool"]
    conn = await pool.acquire()  # expect: LC102
    cur = await conn.cursor()
    await cur.execute("SELECT count(*) FROM visits WHERE page = %s", (request.path,))
    (count,) = await cur.fetchone()
    await cur.close()
    pool.release(conn)
    return web.json_response({"count": count})
