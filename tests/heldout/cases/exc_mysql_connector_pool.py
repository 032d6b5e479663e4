"""A Flask view helper on a mysql-connector pool."""

from mysql.connector import pooling

cnxpool = pooling.MySQLConnectionPool(pool_name="web", pool_size=5, database="shop")


def product_names(category):
    cnx = cnxpool.get_connection()  # expect: LC102
    cursor = cnx.cursor()
    cursor.execute("SELECT name FROM products WHERE category = %s", (category,))
    names = [row[0] for row in cursor.fetchall()]
    cursor.close()
    cnx.close()
    return names
