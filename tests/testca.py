"""A test certificate authority, made per test with cryptography's x509: the CA, a server certificate for
`localhost` (DNS name and 127.0.0.1), a client certificate, and another CA that signed none of them.  The
host link's TLS tests and the back office's collector tests use the same one."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, issuer, key, signer, *, ca: bool, san: str | None = None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(san), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write(path, cert, key=None):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        key_path = path.with_suffix(".key")
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        return str(path), str(key_path)
    return str(path)


def make_pki(directory) -> dict:
    """{"ca": path, "host": (cert, key), "client": (cert, key), "other_ca": path} under `directory`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("posagent test CA", "posagent test CA", ca_key, ca_key, ca=True)
    host_key = ec.generate_private_key(ec.SECP256R1())
    host = _cert("localhost", "posagent test CA", host_key, ca_key, ca=False, san="localhost")
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("10000001", "posagent test CA", client_key, ca_key, ca=False)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("someone else", "someone else", other_key, other_key, ca=True)
    return {"ca": _write(directory / "ca.pem", ca), "host": _write(directory / "host.pem", host, host_key),
            "client": _write(directory / "client.pem", client, client_key),
            "other_ca": _write(directory / "other.pem", other_ca)}


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path)
