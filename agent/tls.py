"""TLS contexts, one way for every link that uses TLS: the host link and the back office's shipper as clients
(verifying the server against a CA file, TLS 1.2 at least, an optional client certificate), the simulator's
host and the office's collector as servers.  Only the standard library's `ssl`."""

from __future__ import annotations

import re
import ssl


def make_ssl_context(ca_file: str | None, cert_file: str | None = None, key_file: str | None = None) -> ssl.SSLContext:
    """A client context that verifies the server against `ca_file` (None: the system's CAs), with an optional
    client certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file:
        context.load_cert_chain(cert_file, key_file or None)
    return context


def server_ssl_context(cert_file: str, key_file: str | None = None, client_ca: str | None = None) -> ssl.SSLContext:
    """A server context with this certificate (and its key, unless the file holds both); with `client_ca`,
    clients must show a certificate it signed.  Raises OSError, ssl.SSLError or ValueError (a key that asks for
    a passphrase: nobody is there to type it) when a file does not load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file or None, password=_no_passphrase)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _no_passphrase() -> bytes:
    raise ValueError("the private key asks for a passphrase; expected an unencrypted key")


def reason(exc: BaseException) -> str:
    """OpenSSL's reason in one line, without the C source place: ``[X509: PEM lib] ...``."""
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
