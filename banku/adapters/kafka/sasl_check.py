"""Does a Kafka broker accept this SASL login? One raw exchange, answered in a fraction of a
second, for PLAIN and SCRAM-SHA-256/512.

kafka-python reports a refused SASL login as a bootstrap timeout most of the time: its clients
retry, and the broker's refusal rarely surfaces before the timeout. When a bootstrap fails and
credentials are set, the kit asks the broker directly: a ``SaslHandshake`` (v1) then
``SaslAuthenticate`` (v1) request over a plain socket, built and parsed with kafka-python's own
protocol classes, and the SCRAM exchange with kafka-python's own ``ScramClient``. The answer is
machine-readable: the broker's error code, never the wording of a log line.
"""

from __future__ import annotations

import socket
import ssl
import struct

from kafka.net.sasl.scram import ScramClient
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

CLIENT_ID = "banku-login-check"
UNSUPPORTED_SASL_MECHANISM = 33


class Refused(Exception):
    """The broker answered, and said no (the reason is in the message)."""


def _exchange(sock: socket.socket, request, response_class, correlation_id: int):
    request.with_header(correlation_id=correlation_id, client_id=CLIENT_ID)
    sock.sendall(request.encode(header=True, framed=True))
    size = struct.unpack(">i", _read(sock, 4))[0]
    return response_class.decode(_read(sock, size), version=1, header=True)


def _read(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def _tokens(mechanism: str, user: str, password: str):  # a generator
    """The client's SASL tokens; each ``yield`` receives the server's answer to the last one."""
    if mechanism == "PLAIN":
        yield b"\0" + user.encode() + b"\0" + password.encode()
        return
    scram = ScramClient(user, password, mechanism)
    server_first = yield scram.first_message()
    scram.process_server_first_message(server_first)
    server_final = yield scram.final_message()
    scram.process_server_final_message(server_final)


def check_login(host: str, port: int, mechanism: str, user: str, password: str,
                timeout: float = 5.0, ssl_context: ssl.SSLContext | None = None) -> None:
    """Return if the broker accepts the login; raise `Refused` with its reason if it does not;
    raise OSError (or ConnectionError) if no broker answers there. With ``ssl_context`` (a
    SASL_SSL listener) the exchange runs inside TLS, as the clients' does."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock = ssl_context.wrap_socket(raw, server_hostname=host) if ssl_context else raw
        sock.settimeout(timeout)
        shake = _exchange(sock, SaslHandshakeRequest(mechanism=mechanism, version=1),
                          SaslHandshakeResponse, 1)
        if shake.error_code == UNSUPPORTED_SASL_MECHANISM:
            offered = ", ".join(shake.mechanisms or []) or "none"
            raise Refused(f"the broker does not offer SASL/{mechanism}; it offers {offered}:"
                          " set KAFKA_SASL_MECHANISM to one of those")
        if shake.error_code:
            raise ConnectionError(f"SASL handshake error {shake.error_code}")
        tokens = _tokens(mechanism, user, password)
        token = next(tokens)
        for correlation_id in range(2, 10):
            answer = _exchange(sock, SaslAuthenticateRequest(auth_bytes=token, version=1),
                               SaslAuthenticateResponse, correlation_id)
            if answer.error_code:
                raise Refused(answer.error_message or f"SASL error {answer.error_code}")
            try:
                token = tokens.send(bytes(answer.auth_bytes or b""))
            except StopIteration:
                return
            except ValueError as exc:  # the server's SCRAM answer did not verify
                raise Refused(str(exc)) from None
        raise ConnectionError("the SASL exchange did not end")


ACCEPTED = ""  # `login_refusal`'s answer when the broker takes the login
# ... and when a broker lets us connect but answers nothing within the timeout (a stuck broker):
# neither a refusal nor an acceptance.
SILENT = "\0silent"


def login_refusal(servers: list[str], mechanism: str, user: str, password: str,
                  timeout: float = 5.0, ssl_context: ssl.SSLContext | None = None) -> str | None:
    """Why the first broker that answers refuses this login; `ACCEPTED` (an empty string) when
    it takes it; `SILENT` when a broker took the connection but answered nothing in time; None
    when no broker answers (then the question is not a login's)."""
    silent = False
    for server in servers:
        host, _, port = server.rpartition(":")
        if not port.isdigit():
            continue
        try:
            check_login(host.strip("[]") or "127.0.0.1", int(port), mechanism, user, password,
                        timeout, ssl_context)
            return ACCEPTED
        except Refused as exc:
            return str(exc)
        except TimeoutError:
            silent = True
        except (OSError, ValueError, struct.error):
            continue
    return SILENT if silent else None
