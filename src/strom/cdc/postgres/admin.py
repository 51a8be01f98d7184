"""Operating PostgreSQL capture: slot lag and slot clean-up (``strom cdc status / drop-slot``).

An unconsumed replication slot keeps every WAL segment after its ``restart_lsn``: a stopped
capture makes the server's disk fill up. :func:`slot_status` shows how much each slot holds
back; :func:`drop_slot` removes one (and, if asked, its publication).
"""

from __future__ import annotations

import time

from psycopg2 import sql

from strom.cdc.errors import CdcError, SlotInUseError
from strom.cdc.postgres import catalog
from strom.cdc.postgres.source import check_name, connect


def slot_status(dsn: str, slot: str | None = None) -> list[catalog.SlotInfo]:
    """The database's replication slots (or the one named) with their lag in bytes."""
    conn = connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            return catalog.slots(cur, slot)
    finally:
        conn.close()


def drop_slot(
    dsn: str,
    slot: str,
    *,
    terminate: bool = False,
    publication: str | None = None,
    timeout: float = 10.0,
) -> bool:
    """Drop replication slot ``slot``; True if it existed.

    Args:
        dsn: the database.
        slot: the slot's name.
        terminate: end the process that holds the slot first (else an active slot is an error).
        publication: also drop this publication (if it exists).
        timeout: seconds to wait for a terminated process to release the slot.

    Raises:
        SlotInUseError: the slot is active and ``terminate`` is False.
    """
    check_name("slot", slot)
    conn = connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            info = catalog.slot(cur, slot)
            if info is not None and info.active:
                if not terminate:
                    raise SlotInUseError(
                        f"replication slot {slot!r} is in use by process {info.active_pid}: "
                        "stop that capture first, or pass --terminate to end it"
                    )
                cur.execute("SELECT pg_terminate_backend(%s)", (info.active_pid,))
                deadline = time.monotonic() + timeout
                while (now := catalog.slot(cur, slot)) is not None and now.active:
                    if time.monotonic() > deadline:
                        raise CdcError(f"slot {slot!r} still active {timeout:.0f}s after terminate")
                    time.sleep(0.1)
            if info is not None:
                cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            if publication is not None:
                cur.execute(
                    sql.SQL("DROP PUBLICATION IF EXISTS {}").format(
                        sql.Identifier(check_name("publication", publication))
                    )
                )
            return info is not None
    finally:
        conn.close()
