"""The process that holds a libsql driver connection for one Django connection.

The driver keeps Python's GIL while it waits on the network, so nothing in
the calling process (not even a watchdog thread) runs while a server is
frozen. Here the wait happens in this small process instead; the Django
process waits on the pipe with a timeout and kills this one if it must.

Protocol on stdin/stdout (multiprocessing.connection framing, pickled):
("open", url, token) | ("run", sql, params) | ("many", sql, param_list)
-> ("ok", value) | ("error", message)
"""

import os
import signal
import sys
from multiprocessing.connection import Connection


def die_with_parent(parent):
    """Go when the Django process goes, even while blocked in the driver.

    Otherwise a worker waiting on a server that does not answer outlives
    its killed parent, keeping the parent's stderr open (whoever reads that
    waits forever) and its server session. Linux only; elsewhere the worker
    goes at its next read of the pipe.
    """
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it was gone before the line above
        sys.exit(0)


def main():
    die_with_parent(int(sys.argv[1]))
    import libsql

    pipe_in, pipe_out = Connection(os.dup(0), writable=False), Connection(os.dup(1), readable=False)
    # The driver may print; keep the protocol's stdout clean.
    os.dup2(2, 1)
    conn = None
    while True:
        try:
            message = pipe_in.recv()
        except EOFError:
            return
        kind = message[0]
        try:
            if kind == "open":
                conn = libsql.connect(message[1], auth_token=message[2] or "", isolation_level=None)
                reply = None
            elif kind == "run":
                cursor = conn.cursor()  # fresh each time: rowcount accumulates per cursor
                cursor.execute(message[1], message[2])
                rows = cursor.fetchall()  # RETURNING errors surface on fetch
                reply = (cursor.description, rows, cursor.rowcount, cursor.lastrowid)
            elif kind == "many":
                cursor = conn.cursor()
                cursor.executemany(message[1], message[2])
                reply = cursor.rowcount
            else:
                reply = None
            pipe_out.send(("ok", reply))
        except Exception as e:  # every driver error is a ValueError; report any
            pipe_out.send(("error", f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e)))


if __name__ == "__main__":
    sys.exit(main())
