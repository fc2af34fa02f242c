"""A WebSocket on a connection the sandbox's HTTP server has already read the request from.

The handshake and the frames are websockets' own (its sans-I/O `ServerProtocol` under its threaded
`ServerConnection`); this module only hands it the request head the HTTP server consumed, so an emulator
can serve HTTP and WebSocket on one port, as the vendor does.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

from websockets.server import ServerProtocol
from websockets.sync.server import ServerConnection


def serve_upgrade(sock: socket.socket, target: str, headers: Mapping[str, str],
                  handler: Callable[[Any], None]) -> None:
    """Complete the opening handshake for `GET target` with `headers`, then run `handler(connection)`.
    Returns when the handler does; the connection is closed by then."""
    protocol = ServerProtocol()
    head = f"GET {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    protocol.receive_data(head.encode("latin-1"))  # the library parses the request it would have read itself
    [request] = protocol.events_received()
    connection = ServerConnection(sock, protocol)
    connection.request = request  # type: ignore[assignment]
    connection.request_rcvd.set()
    connection.handshake(timeout=10)
    if connection.response is not None and connection.response.status_code == 101:
        try:
            handler(connection)
        finally:
            connection.close()
