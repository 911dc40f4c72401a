"""A loopback server speaking just enough of PostgreSQL's protocol to refuse a password
the way a real server does (the test servers trust every local login)."""

import contextlib
import socket
import struct
import threading

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError
        data += chunk
    return data


def _refuse(conn: socket.socket) -> None:
    while True:
        (length,) = struct.unpack("!I", _read(conn, 4))
        body = _read(conn, length - 4)
        if struct.unpack("!I", body[:4])[0] in (SSL_REQUEST, GSSENC_REQUEST):
            conn.sendall(b"N")  # no TLS, no GSSAPI: go on in plain text
            continue
        break
    conn.sendall(b"R" + struct.pack("!II", 8, 3))  # cleartext password, please
    kind = _read(conn, 1)
    (length,) = struct.unpack("!I", _read(conn, 4))
    _read(conn, length - 4)
    assert kind == b"p"
    fields = b"".join(
        code + text.encode() + b"\0"
        for code, text in (
            (b"S", "FATAL"),
            (b"V", "FATAL"),
            (b"C", "28P01"),
            (b"M", 'password authentication failed for user "harbor"'),
        )
    )
    conn.sendall(b"E" + struct.pack("!I", len(fields) + 5) + fields + b"\0")


class PasswordRefusingServer:
    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(ConnectionError, AssertionError, OSError):
                _refuse(conn)

    def close(self):
        self.sock.close()
