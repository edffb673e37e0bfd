"""Running the queue's hottest statements (claim, complete) on any backend."""

import sqlite3

# Each statement's SQL with ? marks, converted once.
_qmark = {}


def fetch_one(connection, sql, params):
    """Run `sql` (%s placeholders) and return its first row, or None.

    On a plain SQLite file it goes straight to the driver, unless something
    watches the connection's queries (execute_wrappers, query logging):
    Django's cursor wrapper costs claims/s there (docs/benchmarks.md).
    """
    connection.ensure_connection()
    driver = connection.connection
    if isinstance(driver, sqlite3.Connection) and not connection.execute_wrappers and not connection.queries_logged:
        qmark = _qmark.get(sql)
        if qmark is None:
            qmark = _qmark[sql] = sql.replace("%s", "?").replace("%%", "%")
        connection.validate_no_broken_transaction()
        with connection.wrap_database_errors:
            return driver.execute(qmark, params).fetchone()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
