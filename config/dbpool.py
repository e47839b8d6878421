"""The check the PostgreSQL pool runs on a connection before lending it (settings
DATABASES OPTIONS pool `check`).

Without a check the pool lent connections PostgreSQL had dropped (a restart, a
failover, pg_terminate_backend), each failing one later request with a 500. psycopg's
own check alone is not enough when the whole pool was dropped: the pool sleeps before
each further check (1 s, doubling), and the next request waited about 15 s behind four
dead connections. So the first dead one found has the pool check all its idle
connections at once and replace the broken ones.

`drop_broken_connection` is for threads that keep their connection (a worker's job
threads, its outbox sender).
"""

from psycopg import Connection
from psycopg_pool import ConnectionPool


def check_pooled_connection(connection: Connection) -> None:
    try:
        ConnectionPool.check_connection(connection)
    except Exception:
        # Imported here: settings import this module, before django.db may be set up.
        from django.db import connections

        pool = connections["default"].pool  # type: ignore[attr-defined]
        if pool is not None:
            pool.check()
        raise


def drop_broken_connection() -> None:
    """For a thread that keeps its database connection from job to job (a worker's): closes
    it if a query failed on it and it no longer answers, or a failure left it inside a
    transaction; otherwise keeps it."""
    from django.db import DEFAULT_DB_ALIAS, connections

    connection = connections[DEFAULT_DB_ALIAS]
    if connection.connection is None:
        return
    if not connection.get_autocommit() or (
        connection.errors_occurred and not connection.is_usable()
    ):
        connection.close()
    connection.errors_occurred = False
