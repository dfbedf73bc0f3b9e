"""TLS between the host link and the simulator, with a test CA (tests/testca.py)."""

from __future__ import annotations

import asyncio

import pytest

from agent.drivers.hostlink import HostLink, LinkConnectError
from agent.tls import make_ssl_context
from agent.engine.netmgmt import build_echo
from tests.testca import pki  # noqa: F401 (the fixture)
from tests.simhost import CUP, HEADER, TPDU, start_host, terminal_config


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
