"""TLS between the host link and the simulator, with a test CA made here (cryptography's x509)."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.drivers.hostlink import HostLink, LinkConnectError, make_ssl_context
from agent.engine.netmgmt import build_echo
from tests.simhost import CUP, HEADER, TPDU, start_host, terminal_config


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, issuer, key, signer, *, ca: bool, san: str | None = None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write(path, cert, key=None):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        key_path = path.with_suffix(".key")
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return str(path), str(key_path)
    return str(path)


@pytest.fixture
def pki(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("posagent test CA", "posagent test CA", ca_key, ca_key, ca=True)
    host_key = ec.generate_private_key(ec.SECP256R1())
    host = _cert("localhost", "posagent test CA", host_key, ca_key, ca=False, san="localhost")
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("10000001", "posagent test CA", client_key, ca_key, ca=False)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("someone else", "someone else", other_key, other_key, ca=True)
    return {"ca": _write(tmp_path / "ca.pem", ca), "host": _write(tmp_path / "host.pem", host, host_key),
            "client": _write(tmp_path / "client.pem", client, client_key),
            "other_ca": _write(tmp_path / "other.pem", other_ca)}


def _link(port, context):
    return HostLink("localhost", port, dialect=CUP, tpdu=TPDU, header=HEADER, connect_timeout=3,
                    response_timeout=5, ssl_context=context)


def test_tls_with_client_certificate(tmp_path, pki):
    cert, key = pki["host"]
    host = start_host(tmp_path, "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", pki["ca"])
    try:
        async def go():
            link = _link(host.port, make_ssl_context(pki["ca"], *pki["client"]))
            answer = await link.exchange(build_echo(terminal_config(), 1))
            await link.close()
            return answer
        assert asyncio.run(go())[39] == "00"

        async def untrusted():
            link = _link(host.port, make_ssl_context(pki["other_ca"], *pki["client"]))
            with pytest.raises(LinkConnectError) as info:
                await link.exchange(build_echo(terminal_config(), 2))
            assert not info.value.sent
            await link.close()
        asyncio.run(untrusted())
    finally:
        host.stop()
