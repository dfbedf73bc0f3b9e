"""What a file holds that is not yet on stable storage: the pages written since its last fsync.

The power-cut filesystem keeps one `UnsyncedFile` per file with unsynced writes.  Reads see the durable
bytes with these pages laid over them; an fsync writes the pages out and forgets them; a power cut simply
forgets them.  Pure data: the caller gives it a function that reads the durable bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

PAGE = 4096
#: a torn write keeps whole sectors: the unit a disk writes atomically
SECTOR = 512

ReadDurable = Callable[[int, int], bytes]  # (offset, size) → bytes of the durable file (short at its end)


@dataclass
class UnsyncedFile:
    size: int                      # the size readers see now
    durable_size: int              # the size on stable storage when the first unsynced change came
    zero_from: int = -1            # bytes of the durable file at or past this offset were truncated away
    pages: dict[int, bytearray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.zero_from < 0:
            self.zero_from = self.durable_size

    def _page(self, index: int, read_durable: ReadDurable) -> bytearray:
        page = self.pages.get(index)
        if page is None:
            start = index * PAGE
            keep = max(0, min(PAGE, self.zero_from - start))
            base = read_durable(start, keep) if keep else b""
            page = bytearray(base[:keep]) + bytearray(PAGE - len(base[:keep]))
            self.pages[index] = page
        return page

    def write(self, offset: int, data: bytes, read_durable: ReadDurable) -> None:
        position, end = offset, offset + len(data)
        while position < end:
            index, start = divmod(position, PAGE)
            take = min(PAGE - start, end - position)
            page = self._page(index, read_durable)
            page[start:start + take] = data[position - offset:position - offset + take]
            position += take
        self.size = max(self.size, end)

    def read(self, offset: int, size: int, read_durable: ReadDurable) -> bytes:
        end = min(offset + size, self.size)
        out = bytearray()
        position = offset
        while position < end:
            index, start = divmod(position, PAGE)
            take = min(PAGE - start, end - position)
            page = self.pages.get(index)
            if page is not None:
                out += page[start:start + take]
            else:
                keep = max(0, min(take, self.zero_from - position))
                chunk = read_durable(position, keep) if keep else b""
                out += chunk + bytes(take - len(chunk))
            position += take
        return bytes(out)

    def truncate(self, length: int) -> None:
        self.zero_from = min(self.zero_from, length)
        for index in [i for i in self.pages if i * PAGE >= length]:
            del self.pages[index]
        index, start = divmod(length, PAGE)
        if start and index in self.pages:
            page = self.pages[index]
            page[start:] = bytes(PAGE - start)
        self.size = length

    def extents(self) -> list[tuple[int, bytes]]:
        """(offset, bytes) to write out on fsync, after truncating the durable file to `zero_from`."""
        out = []
        for index in sorted(self.pages):
            start = index * PAGE
            if start < self.size:
                out.append((start, bytes(self.pages[index][:min(PAGE, self.size - start)])))
        return out


def torn_prefix(offset: int, data: bytes, sectors: int) -> bytes:
    """The part of a write that reached the disk when power failed after `sectors` whole sectors of it:
    everything up to that sector boundary (counted on the device, so the first one may be partial)."""
    first_boundary = (offset // SECTOR + 1) * SECTOR
    if sectors <= 0:
        return b""
    end = first_boundary + (sectors - 1) * SECTOR
    return data[:max(0, min(len(data), end - offset))]
