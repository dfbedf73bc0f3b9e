"""The test EMV public-key infrastructure: a certification authority, issuers and cards (EMV 4.x Book 2 §5–6).

Everything here is for tests and the simulator only: the keys were generated for this project by
`python -m simulator.emvpki generate` and are stored in simulator/data/emv_pki.toml; none is a real
scheme key. The CA signs the issuers' public-key certificates (format 02), an issuer signs its cards'
ICC public-key certificates (format 04) and static application data (SSAD, format 03), and a card signs
dynamic data (SDAD, format 05) for DDA and CDA. Signing is EMV's: SHA-1, message recovery, raw RSA.

The terminal's side of the same formats (recovery and checks) is agent/emv/oda.py; the terminal
holds only the CA public keys (`[emv] ca_keys`, the file `ca_keys_toml` writes: simulator/data/emv_ca_keys.toml).
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Mapping

from cryptography.hazmat.primitives.asymmetric import rsa

RID = bytes.fromhex("A000000333")  # UnionPay's registered application provider id
CA_INDEX = 0x08
CA_EXPIRY = "1231"  # MMYY of the test CA key: 31 December 2031, past every test card's expiry
#: the terminal's CA key file for this PKI (what the simulated world's `[emv] ca_keys` names)
CA_KEYS_FILE = Path(__file__).resolve().parent / "data" / "emv_ca_keys.toml"
HASH_SHA1 = 0x01
PK_RSA = 0x01


@dataclass(frozen=True)
class RsaKey:
    """A raw RSA key pair as integers (EMV signs and recovers without padding schemes)."""

    modulus: int
    exponent: int
    private: int | None = None

    @property
    def size(self) -> int:
        return (self.modulus.bit_length() + 7) // 8

    def modulus_bytes(self) -> bytes:
        return self.modulus.to_bytes(self.size, "big")

    def exponent_bytes(self) -> bytes:
        return self.exponent.to_bytes(1 if self.exponent < 256 else 3, "big")

    def sign(self, recovered: bytes) -> bytes:
        if self.private is None or len(recovered) != self.size:
            raise ValueError("signing needs the private key and exactly one modulus length of data")
        return pow(int.from_bytes(recovered, "big"), self.private, self.modulus).to_bytes(self.size, "big")


def _generate(bits: int) -> RsaKey:
    private = rsa.generate_private_key(public_exponent=3, key_size=bits)
    numbers = private.private_numbers()
    return RsaKey(numbers.public_numbers.n, numbers.public_numbers.e, numbers.d)


def _sha1(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts)).digest()


def _pad(length: int) -> bytes:
    return b"\xBB" * length


def _split(modulus: bytes, room: int) -> tuple[bytes, bytes]:
    """The leftmost digits that fit in a certificate (padded with BB) and the remainder."""
    if len(modulus) <= room:
        return modulus + _pad(room - len(modulus)), b""
    return modulus[:room], modulus[room:]


def issuer_certificate(ca: RsaKey, issuer: RsaKey, issuer_id: str, expiry: str, serial: bytes) -> tuple[bytes, bytes]:
    """(certificate 90, remainder 92) for an issuer key: format 02, signed by the CA."""
    leftmost, remainder = _split(issuer.modulus_bytes(), ca.size - 36)
    body = (b"\x02" + bytes.fromhex(issuer_id.ljust(8, "F")) + bytes.fromhex(expiry) + serial
            + bytes([HASH_SHA1, PK_RSA, issuer.size, len(issuer.exponent_bytes())]) + leftmost)
    digest = _sha1(body, remainder, issuer.exponent_bytes())
    return ca.sign(b"\x6A" + body + digest + b"\xBC"), remainder


def icc_certificate(issuer: RsaKey, icc: RsaKey, pan: str, expiry: str, serial: bytes,
                    static_data: bytes) -> tuple[bytes, bytes]:
    """(certificate 9F46, remainder 9F48) for a card key: format 04, signed by the issuer."""
    leftmost, remainder = _split(icc.modulus_bytes(), issuer.size - 42)
    body = (b"\x04" + bytes.fromhex(pan.ljust(20, "F")) + bytes.fromhex(expiry) + serial
            + bytes([HASH_SHA1, PK_RSA, icc.size, len(icc.exponent_bytes())]) + leftmost)
    digest = _sha1(body, remainder, icc.exponent_bytes(), static_data)
    return issuer.sign(b"\x6A" + body + digest + b"\xBC"), remainder


def signed_static_data(issuer: RsaKey, static_data: bytes, data_auth_code: bytes = b"\xDA\xC1") -> bytes:
    """Signed static application data (93) for SDA: format 03, signed by the issuer."""
    body = b"\x03" + bytes([HASH_SHA1]) + data_auth_code + _pad(issuer.size - 26)
    return issuer.sign(b"\x6A" + body + _sha1(body, static_data) + b"\xBC")


def signed_dynamic_data(icc: RsaKey, icc_dynamic_data: bytes, terminal_data: bytes) -> bytes:
    """Signed dynamic application data (9F4B) for DDA and CDA: format 05, signed by the card."""
    body = (b"\x05" + bytes([HASH_SHA1, len(icc_dynamic_data)]) + icc_dynamic_data
            + _pad(icc.size - len(icc_dynamic_data) - 25))
    return icc.sign(b"\x6A" + body + _sha1(body, terminal_data) + b"\xBC")


# -- the stored test keys --------------------------------------------------------------------------

@dataclass(frozen=True)
class TestPki:
    ca: RsaKey
    issuers: dict[str, RsaKey]  # by issuer id (the PAN's leading digits)
    cards: dict[str, RsaKey]    # by card name


def _key(table: Mapping[str, str]) -> RsaKey:
    return RsaKey(int(table["modulus"], 16), int(table["exponent"]), int(table["private"], 16))


@lru_cache(maxsize=4)
def load_pki(path: str | None = None) -> TestPki:
    text = (Path(path).read_text("utf-8") if path else
            resources.files("simulator").joinpath("data/emv_pki.toml").read_text("utf-8"))
    data = tomllib.loads(text)
    return TestPki(_key(data["ca"]), {k: _key(v) for k, v in data["issuer"].items()},
                   {k: _key(v) for k, v in data["card"].items()})


def ca_keys_toml(ca: RsaKey) -> str:
    """The terminal's CA public-key file for this test CA (what `[emv] ca_keys` names)."""
    modulus = ca.modulus_bytes()
    checksum = _sha1(RID, bytes([CA_INDEX]), modulus, ca.exponent_bytes())
    return ("# Certification-authority public keys for offline data authentication: TEST keys of the\n"
            "# simulator's CA, never a scheme's. checksum = SHA-1(RID || index || modulus || exponent).\n"
            f'[[key]]\nrid = "{RID.hex().upper()}"\nindex = "{CA_INDEX:02X}"\nexpiry = "{CA_EXPIRY}"\n'
            f'exponent = "{ca.exponent_bytes().hex().upper()}"\nmodulus = "{modulus.hex().upper()}"\n'
            f'checksum = "{checksum.hex().upper()}"\n\n'
            "# issuer certificates this CA has revoked (RID, CA index, certificate serial)\n"
            f'[[revoked]]\nrid = "{RID.hex().upper()}"\nindex = "{CA_INDEX:02X}"\nserial = "0000FF"\n')


def _generate_file(card_names: list[str], issuer_ids: list[str]) -> str:
    def entry(name: str, key: RsaKey) -> str:
        return (f'[{name}]\nmodulus = "{key.modulus:X}"\nexponent = {key.exponent}\n'
                f'private = "{key.private:X}"\n')
    out = ["# TEST keys of the simulator's EMV PKI (simulator/emvpki.py): generated for this project,",
           "# never real. CA 1408 bits > issuers 1152 bits > cards 1024 bits, as EMV requires.", ""]
    out.append(entry("ca", _generate(1408)))
    out += [entry(f'issuer."{i}"', _generate(1152)) for i in issuer_ids]
    out += [entry(f'card."{n}"', _generate(1024)) for n in card_names]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """`python -m simulator.emvpki generate CARD... --issuers ID...` or `ca-keys` (prints the terminal's file)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["ca-keys"]:
        sys.stdout.write(ca_keys_toml(load_pki().ca))
        return 0
    if args[:1] == ["generate"] and "--issuers" in args:
        split = args.index("--issuers")
        sys.stdout.write(_generate_file(args[1:split], args[split + 1:]))
        return 0
    print("usage: python -m simulator.emvpki generate CARD... --issuers ID... | ca-keys", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
