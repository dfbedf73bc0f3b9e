"""The chip parameter sets (IC card application parameters and CA public keys) and their downloads.

A download is staged: `params_download_begin` journals what the acquirer listed, each entry is kept as
it arrives (`params_item`, the raw TLV), and only `params_install` makes a set the one in force — in one
commit that marks the old set replaced, writes the new one and closes the download, with one
hash-chained event.  A download cut anywhere (a lost answer, a kill, a power cut) leaves its entries
staged for the next try to resume, and the old set in force: never a mix.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Mapping

from agent.journal.errors import JournalError
from agent.journal.scrub import scrub_text
from agent.journal.store import Store

#: where a download stands: staging (entries arriving), installed, abandoned (superseded), refused
DOWNLOAD_STATES = ("staging", "installed", "abandoned", "refused")
ITEM_KINDS = ("key", "aid")


@dataclass(frozen=True)
class ParamRecord:
    """A set as installed: its content (see agent/engine/paramset.py), versions, digest and origin."""

    id: int
    params_version: str
    keys_version: str
    digest: str
    content: dict[str, Any]
    source: str
    installed_at: float

    def as_dict(self) -> dict[str, Any]:
        return {"version": f"{self.params_version}/{self.keys_version}", "digest": self.digest[:16],
                "source": self.source, "installed_at": self.installed_at,
                "aids": len(self.content.get("aids", ())), "keys": len(self.content.get("keys", ()))}


@dataclass(frozen=True)
class ParamDownload:
    """A download and what the acquirer listed for it (None: that part is not being replaced)."""

    id: int
    state: str
    trigger: str
    params_version: str | None
    keys_version: str | None
    key_list: tuple[str, ...]
    aid_list: tuple[str, ...]
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "trigger": self.trigger, "params_version": self.params_version,
                "keys_version": self.keys_version, "keys": len(self.key_list), "aids": len(self.aid_list),
                "error": self.error}


def _record(row: sqlite3.Row) -> ParamRecord:
    return ParamRecord(id=row["id"], params_version=row["params_version"], keys_version=row["keys_version"],
                       digest=row["digest"], content=json.loads(row["content"]), source=row["source"],
                       installed_at=row["installed_at"])


def _download(row: sqlite3.Row) -> ParamDownload:
    return ParamDownload(id=row["id"], state=row["state"], trigger=row["trigger"],
                         params_version=row["params_version"], keys_version=row["keys_version"],
                         key_list=tuple(json.loads(row["key_list"])), aid_list=tuple(json.loads(row["aid_list"])),
                         error=row["error"])


class ParamSets(Store):
    """Rows of `param_sets`, `param_downloads` and `param_items`."""

    def params_in_force(self) -> ParamRecord | None:
        """The downloaded set in force, or None (the local files are)."""
        row = self._conn.execute("SELECT * FROM param_sets WHERE state = 'in_force'").fetchone()
        return _record(row) if row is not None else None

    def params_history(self, limit: int = 10) -> list[ParamRecord]:
        """The sets installed, newest first."""
        return [_record(r) for r in self._conn.execute("SELECT * FROM param_sets ORDER BY id DESC LIMIT ?",
                                                       (limit,))]

    def params_download_open(self) -> ParamDownload | None:
        """The download still staging (to resume), if any."""
        row = self._conn.execute("SELECT * FROM param_downloads WHERE state = 'staging' "
                                 "ORDER BY id DESC LIMIT 1").fetchone()
        return _download(row) if row is not None else None

    def _download_row(self, download_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = self._conn.execute("SELECT * FROM param_downloads WHERE id = ?",
                                                     (download_id,)).fetchone()
        if row is None:
            raise JournalError(f"no parameter download {download_id} in the journal")
        return row

    def params_download_begin(self, *, trigger: str, params_version: str | None, keys_version: str | None,
                              key_list: list[str], aid_list: list[str]) -> ParamDownload:
        """Stage a new download of what the acquirer listed; a download still staging is abandoned in the
        same commit (its entries belong to another version)."""
        now = self._clock()
        with self._write("begin a parameter download") as w:
            for row in self._conn.execute("SELECT id FROM param_downloads WHERE state = 'staging'").fetchall():
                w.update("param_downloads", row["id"], {"state": "abandoned", "error": "superseded by a new download",
                                                        "updated_at": now})
            row = w.insert("param_downloads", {
                "state": "staging", "trigger": trigger, "params_version": params_version,
                "keys_version": keys_version, "key_list": json.dumps(key_list), "aid_list": json.dumps(aid_list),
                "started_at": now, "updated_at": now})
            w.record("params.download", None, None, "system",
                     {"download": row["id"], "trigger": trigger, "params_version": params_version,
                      "keys_version": keys_version, "keys": len(key_list), "aids": len(aid_list)})
        return _download(row)

    def params_item(self, download_id: int, kind: str, name: str, data: bytes) -> None:
        """Keep one entry as the acquirer sent it (a repeat of the same entry is kept once)."""
        if kind not in ITEM_KINDS:
            raise JournalError(f"parameter entry kind {kind!r}: expected one of {', '.join(ITEM_KINDS)}")
        with self._write(f"stage {kind} {name}") as w:
            if self._download_row(download_id)["state"] != "staging":
                raise JournalError(f"parameter download {download_id} is not staging")
            if self._conn.execute("SELECT 1 FROM param_items WHERE download_id = ? AND kind = ? AND name = ?",
                                  (download_id, kind, name)).fetchone() is None:
                w.insert("param_items", {"download_id": download_id, "kind": kind, "name": name,
                                         "tlv": bytes(data).hex().upper(), "created_at": self._clock()})
            w.record("params.item", None, None, "system", {"download": download_id, "kind": kind, "name": name})

    def params_items(self, download_id: int) -> dict[str, bytes]:
        """The entries staged so far: "kind name" → TLV."""
        return {f"{r['kind']} {r['name']}": bytes.fromhex(r["tlv"]) for r in self._conn.execute(
            "SELECT kind, name, tlv FROM param_items WHERE download_id = ? ORDER BY id", (download_id,))}

    def params_install(self, download_id: int, *, content: Mapping[str, Any], digest: str) -> ParamRecord:
        """The one step that changes the set in force: old replaced, new in force, download closed — one commit."""
        now = self._clock()
        with self._write("install a parameter set") as w:
            if self._download_row(download_id)["state"] != "staging":
                raise JournalError(f"parameter download {download_id} is not staging: nothing to install")
            old = self._conn.execute("SELECT id, digest FROM param_sets WHERE state = 'in_force'").fetchone()
            if old is not None:
                w.update("param_sets", old["id"], {"state": "replaced", "replaced_at": now})
            row = w.insert("param_sets", {
                "state": "in_force", "params_version": content["params_version"],
                "keys_version": content["keys_version"], "digest": digest,
                "content": json.dumps(dict(content), sort_keys=True, separators=(",", ":")), "source": "download",
                "download_id": download_id, "installed_at": now})
            w.update("param_downloads", download_id, {"state": "installed", "updated_at": now})
            w.record("params.installed", None, None, "system",
                     {"download": download_id, "version": f"{content['params_version']}/{content['keys_version']}",
                      "digest": digest, "replaced": old["digest"] if old is not None else None})
        return _record(row)

    def params_download_end(self, download_id: int, state: str, error: str) -> ParamDownload:
        """Close a download without installing it: "refused" (a bad entry) or "abandoned"."""
        if state not in ("refused", "abandoned"):
            raise JournalError(f"a download ends refused or abandoned, not {state!r}")
        with self._write(f"close parameter download {download_id}") as w:
            if self._download_row(download_id)["state"] != "staging":
                raise JournalError(f"parameter download {download_id} is not staging")
            error = scrub_text(error)[:300]
            row = w.update("param_downloads", download_id, {"state": state, "error": error,
                                                            "updated_at": self._clock()})
            w.record(f"params.{state}", None, None, "system", {"download": download_id, "error": error})
        return _download(row)
