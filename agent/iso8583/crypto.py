"""Software DES/3DES for the terminal side: MACs (CUP ECB, ANSI X9.19, X9.9), key check values,
TMK-encrypted working keys, ISO 9564 format 0 PIN blocks.

Keys are raw bytes (8, 16 or 24).  On real hardware these operations run inside the PIN pad; this
module is the software crypto provider the simulator and tests use.  Nothing here logs or keeps keys.
"""

from __future__ import annotations

import hmac
import sys
import threading
from array import array
from collections import OrderedDict
from functools import reduce
from operator import xor
from typing import Any

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from agent.iso8583.errors import CodecError

BLOCK = 8


class KeyCheckError(CodecError):
    """A working key whose check value does not match: the key is rejected."""


def _tdes_key(key: bytes) -> bytes:
    if len(key) == 8:
        return key * 3  # single DES as 3DES K1K1K1
    if len(key) == 16:
        return key + key[:8]  # double-length key in its K1K2K1 form
    if len(key) == 24:
        return key
    raise CodecError(f"DES key must be 8, 16 or 24 bytes, got {len(key)}")


def _blocks(data: bytes, what: str) -> bytes:
    if len(data) % BLOCK:
        raise CodecError(f"{what} must be a multiple of 8 bytes, got {len(data)}")
    return bytes(data)


#: ECB contexts kept per key: building one costs ~6 µs, a block through a kept one ~0.5 µs.  ECB has no
#: state between blocks, so a context that is never finalized serves every call; the lock keeps two
#: threads (the card reader's, the event loop's) from interleaving inside one update.
_ECB_CACHE: OrderedDict[tuple[bytes, bool], Any] = OrderedDict()
_ECB_CACHE_SIZE = 1024  # the acquirer simulator MACs for a fleet: one key per terminal
_ECB_LOCK = threading.Lock()


def _ecb(key: bytes, encrypt: bool, data: bytes) -> bytes:
    data = _blocks(data, "data")
    slot = (bytes(key), encrypt)
    with _ECB_LOCK:
        op = _ECB_CACHE.get(slot)
        if op is None:
            cipher = Cipher(TripleDES(_tdes_key(key)), modes.ECB())
            op = cipher.encryptor() if encrypt else cipher.decryptor()
            _ECB_CACHE[slot] = op
            if len(_ECB_CACHE) > _ECB_CACHE_SIZE:  # old working keys (replaced at sign-on) are dropped
                _ECB_CACHE.popitem(last=False)
        else:
            _ECB_CACHE.move_to_end(slot)
        return op.update(data)


def tdes_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    return _ecb(key, True, data)


def tdes_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    return _ecb(key, False, data)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _zero_pad(data: bytes) -> bytes:
    """ISO 9797-1 padding method 1 (zeros to a block boundary; empty data becomes one zero block)."""
    if not data:
        return bytes(BLOCK)
    return bytes(data) + bytes(-len(data) % BLOCK)


def kcv(key: bytes) -> bytes:
    """Key check value: the first 4 bytes of E(key, 8 zero bytes)."""
    return tdes_ecb_encrypt(key, bytes(BLOCK))[:4]


def wrap_working_key(tmk: bytes, key: bytes) -> bytes:
    """A working key encrypted under the terminal master key (what the host sends in field 62)."""
    return tdes_ecb_encrypt(tmk, key)


def unwrap_working_key(tmk: bytes, encrypted: bytes, check_value: bytes) -> bytes:
    """Decrypt a working key under the TMK and check it against its check value."""
    key = tdes_ecb_decrypt(tmk, encrypted)
    if not check_value or not hmac.compare_digest(kcv(key)[:len(check_value)], bytes(check_value)):
        raise KeyCheckError("working key check value does not match: key rejected", field=62)
    return key


def _cbc_mac(key: bytes, data: bytes) -> bytes:
    """The last block of CBC encryption with a zero IV under `key`."""
    op = Cipher(TripleDES(_tdes_key(key)), modes.CBC(bytes(BLOCK))).encryptor()
    return (op.update(_zero_pad(data)) + op.finalize())[-BLOCK:]


def mac_x99(key: bytes, data: bytes) -> bytes:
    """ANSI X9.9 (ISO 9797-1 algorithm 1, padding 1): single-DES CBC-MAC under an 8-byte key."""
    if len(key) != 8:
        raise CodecError("X9.9 MAC needs an 8-byte key")
    return _cbc_mac(key, data)


def mac_x919(key: bytes, data: bytes) -> bytes:
    """ANSI X9.19 retail MAC (ISO 9797-1 algorithm 3, padding 1) under a 16-byte key K1K2."""
    if len(key) != 16:
        raise CodecError("X9.19 MAC needs a 16-byte key")
    left, right = key[:8], key[8:]
    state = _cbc_mac(left, data)
    state = tdes_ecb_decrypt(right, state)
    return tdes_ecb_encrypt(left, state)


def mac_cup_ecb(key: bytes, data: bytes) -> bytes:
    """The China UnionPay POS "ECB" MAC, returned as the 8 ASCII hex characters field 64 carries.

    XOR all 8-byte blocks (last one zero-padded), hex-expand the result to 16 uppercase characters,
    encrypt the first 8 with the key, XOR with the last 8, encrypt again, hex-expand, keep 8 chars.
    """
    # XOR of the blocks, folded in C over 8-byte words (XOR is bytewise, so the words' byte order is undone
    # by converting back in the same order)
    folded = reduce(xor, array("Q", _zero_pad(data)), 0).to_bytes(BLOCK, sys.byteorder)
    expanded = folded.hex().upper().encode("ascii")
    first = tdes_ecb_encrypt(key, expanded[:8])
    second = tdes_ecb_encrypt(key, _xor(first, expanded[8:]))
    return second.hex().upper().encode("ascii")[:8]


def pin_block_iso0(pin: str, pan: str) -> bytes:
    """ISO 9564-1 format 0 clear PIN block: (0, length, PIN, F padding) XOR (0000 + 12 PAN digits)."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise CodecError("PIN must be 4 to 12 digits")
    if not (pan.isascii() and pan.isdigit() and len(pan) >= 13):
        raise CodecError("PAN must be at least 13 digits")
    pin_field = bytes.fromhex(f"0{len(pin):X}{pin}".ljust(16, "F"))
    pan_field = bytes.fromhex("0000" + pan[-13:-1])  # rightmost 12 digits, check digit excluded
    return _xor(pin_field, pan_field)


def encrypt_pin_block(pin_key: bytes, pin: str, pan: str) -> bytes:
    return tdes_ecb_encrypt(pin_key, pin_block_iso0(pin, pan))


def pin_from_block_iso0(clear_block: bytes, pan: str) -> str:
    """The PIN in a clear ISO 9564 format 0 block for `pan` (the issuer's side); CodecError if malformed."""
    if len(clear_block) != BLOCK:
        raise CodecError(f"a PIN block is {BLOCK} bytes, got {len(clear_block)}")
    if not (pan.isascii() and pan.isdigit() and len(pan) >= 13):
        raise CodecError("PAN must be at least 13 digits")
    digits = _xor(clear_block, bytes.fromhex("0000" + pan[-13:-1])).hex().upper()
    length = int(digits[1], 16)
    if digits[0] != "0" or not 4 <= length <= 12:
        raise CodecError("not an ISO 9564 format 0 PIN block (control or length nibble)")
    pin, fill = digits[2:2 + length], digits[2 + length:]
    if not pin.isdigit() or fill != "F" * len(fill):
        raise CodecError("not an ISO 9564 format 0 PIN block (PIN digits or F fill)")
    return pin
