"""TLS for the local stack: a CA and a server certificate (made with `cryptography`), and the
one-line reason a TLS connection fails (a plaintext client at a TLS port, an unknown CA, a
certificate for another host, an expired one).

The reason is found by one handshake of Python's own `ssl` module with the client's settings, and
decided by the verification error's code (OpenSSL's ``X509_V_ERR_*``), never by a message's
wording.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

# OpenSSL's verification codes (x509_vfy.h) that each have a sentence of their own.
CERT_HAS_EXPIRED = 10
CERT_NOT_YET_VALID = 9
HOSTNAME_MISMATCH = 62
IP_ADDRESS_MISMATCH = 64

CA_FILE = "ca.pem"  # what clients trust (KAFKA_SSL_CAFILE, REDIS_SSL_CA_CERTS)
SERVER_PEM = "server.pem"  # the server's key and certificate, in one file (Kafka's PEM keystore)
SERVER_CERT = "server.crt"  # the same certificate and key apart (redis-server's tls-*-file)
SERVER_KEY = "server.key"
CA_DAYS = 3650
SERVER_DAYS = 825  # the longest a browser accepts for a server certificate


def _key():  # a cryptography private key
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Banku local stack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alt_names(hosts: list[str]) -> list:
    from cryptography import x509

    names: list = []
    for host in dict.fromkeys(hosts):  # in order, once each
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    # PKCS#8, unencrypted: what Kafka's PEM keystore and redis-server both read; the file is 0600.
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_certificates(directory: Path, hosts: list[str], days: int = SERVER_DAYS,
                      not_before: datetime.datetime | None = None) -> Path:
    """Make a CA and a server certificate valid for ``hosts`` (names or addresses) in
    ``directory`` (mode 0700, every file 0600); returns the CA file's path.

    ``days`` and ``not_before`` exist for tests (an expired certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    from banku.stack.plan import private_dir, write_private

    private_dir(directory)
    start = not_before or datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(
        minutes=5)  # a little earlier: clocks of the room's machines differ a bit
    ca_key, server_key = _key(), _key()
    ca_name = _name("Banku local CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=CA_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca_name)
              .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
              .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                    x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                  ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_pem, server_pem = ca.public_bytes(pem).decode(), server.public_bytes(pem).decode()
    key_pem = _pem_key(server_key).decode()
    # The CA's key is not kept: nothing else is ever signed with it, so it cannot leak.
    write_private(directory / SERVER_CERT, server_pem)
    write_private(directory / SERVER_KEY, key_pem)
    write_private(directory / SERVER_PEM, key_pem + server_pem + ca_pem)
    write_private(directory / CA_FILE, ca_pem)  # last: its presence says the set is complete
    return directory / CA_FILE


# --- why a TLS connection fails -----------------------------------------------------------
def _connect(host: str, port: int, timeout: float) -> socket.socket | None:
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None


def speaks_tls(host: str, port: int, timeout: float = 2.0) -> bool:
    """Does the server at host:port answer a TLS handshake (whatever its certificate)?"""
    sock = _connect(host, port, timeout)
    if sock is None:
        return False
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(sock, server_hostname=host):
            return True
    except (OSError, ssl.SSLError):
        return False
    finally:
        sock.close()


def client_context(cafile: str = "") -> ssl.SSLContext:
    """What the kit's clients check: the CA file (or the system's CAs) and the host name."""
    context = ssl.create_default_context(cafile=cafile or None)
    return context


def handshake_problem(host: str, port: int, cafile: str, what: str, ca_setting: str,
                      timeout: float = 3.0) -> str | None:
    """One sentence saying why a TLS client with ``cafile`` cannot connect to ``host:port``
    (``what`` names the server: "Kafka at 127.0.0.1:9092"); None when the handshake succeeds or
    nothing answers there (then the problem is not TLS's)."""
    sock = _connect(host, port, timeout)
    if sock is None:
        return None
    try:
        with client_context(cafile).wrap_socket(sock, server_hostname=host):
            return None
    except ssl.SSLCertVerificationError as exc:
        return _verify_sentence(exc.verify_code, host, cafile, what, ca_setting)
    except ssl.SSLError:
        return (f"{what} does not speak TLS (the handshake failed): it is a plaintext port; use"
                f" the settings of that stack (no TLS there), or the port of its TLS listener.")
    except OSError:
        return None  # closed or silent: not a TLS problem we can name
    finally:
        sock.close()


def _verify_sentence(code: int, host: str, cafile: str, what: str, ca_setting: str) -> str:
    if code in (HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH):
        return (f"{what} presents a certificate that is not for {host!r}: connect with a name"
                " or address the certificate holds (the one in your learner file, or"
                " 127.0.0.1 on the stack's machine).")
    if code == CERT_HAS_EXPIRED:
        return (f"{what} presents an expired certificate: the stack's certificates must be"
                " made again (`banku stack down --wipe`, then `banku stack up --tls`), or the"
                " clock of this machine is wrong.")
    if code == CERT_NOT_YET_VALID:
        return (f"{what} presents a certificate that is not valid yet: the clock of this"
                " machine (or the server's) is wrong.")
    if cafile:
        return (f"{what} presents a certificate that {ca_setting}={cafile} did not sign: give"
                " the CA file of that stack (`banku stack status --json` names it).")
    return (f"{what} presents a certificate the system's CAs do not vouch for: set"
            f" {ca_setting} to the CA file of that stack (`banku stack status --json` names it).")


def plaintext_at_tls(what: str, fix: str) -> str:
    """The sentence for a plaintext client at a TLS-only port."""
    return f"{what} speaks TLS only, and this client spoke plaintext: {fix}."
