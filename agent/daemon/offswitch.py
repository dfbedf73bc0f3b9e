"""The supervisor switches the terminal offline by hand (`posagent offline on|off`, the keypad's Manage menu,
the technician console's `offline on|off`): the bank is declared unusable.

While switched offline the link counts as down with the supervisor's reason: a sale goes the
store-and-forward path at once (no connect is tried) within the `[offline]` limits, what needs the bank is
refused as while the line is cut, nothing at all is sent to the bank (the interpreter answers every connect
and request "refused" without touching the link) and the background sender pauses.  Switched back on, the
next sale or echo decides as before.

The switch is a durable state value of the journal (`offline.switched`: who, their role, since when), set in
the same commit as its event (`offline.switched` with `offline` true or false, operator and role): a restart
comes back switched.  Refused in one line while store-and-forward is off; a switch found in the journal then
is ended at start (journaled) so that turning `[offline] enabled` on again later does not bring it back.
"""

from __future__ import annotations

import json
import logging
import asyncio
import time
from typing import Any, Mapping, Protocol

from agent.auth import clock_time
from agent.daemon.interpreter import Interpreter
from agent.daemon.linkstate import LinkHealth, Switched
from agent.drivers.hostlink import HostLink
from agent.engine.effects import EngineError
from agent.engine.requests import Profile
from agent.engine.texts import say
from agent.journal import Journal


class Daemon(Protocol):
    """What the switch needs of the daemon (`agent.daemon.service.Daemon`, which calls it)."""

    @property
    def profile(self) -> Profile: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def interpreter(self) -> Interpreter: ...

    @property
    def link(self) -> HostLink: ...

    @property
    def operation_lock(self) -> asyncio.Lock: ...

log = logging.getLogger("posagent.daemon")

#: the journal's state key and the event kind of the switch
STATE_KEY = EVENT = "offline.switched"


def _facts(daemon: Daemon, stored: Mapping[str, Any]) -> Switched:
    return {"operator": str(stored.get("operator") or "supervisor"), "role": str(stored.get("role") or "supervisor"),
            "since": float(stored.get("since") or time.time()),
            "reason": say(daemon.profile.language, "offline_switched")}


def restore(daemon: Daemon) -> None:
    """At start: the switch as the journal last recorded it."""
    text = daemon.journal.get_state(STATE_KEY)
    if text is None:
        return
    try:
        stored = json.loads(text)
    except ValueError:
        stored = {}
    if daemon.profile.offline is None:
        log.warning("the terminal was switched offline by the supervisor, but [offline] enabled is false: the "
                    "switch is ended")
        daemon.journal.set_state(STATE_KEY, None, operator="daemon", role="system", event=EVENT,
                                 details={"offline": False, "why": "[offline] enabled is false"})
        return
    facts = _facts(daemon, stored if isinstance(stored, dict) else {})
    daemon.interpreter.health.switch(facts)
    log.warning("switched offline by the supervisor since %s: nothing is sent to the bank until switched back",
                clock_time(facts["since"]))


def public(health: LinkHealth) -> dict[str, Any] | None:
    """The switch as `status` shows it: who and since when (None: not switched)."""
    if health.switched is None:
        return None
    return {key: health.switched[key] for key in ("operator", "role", "since")}


async def switch(daemon: Daemon, offline: bool, operator: str, role: str) -> dict[str, Any]:
    """Switch offline (`offline` true) or back; after the operation running now, never in its middle."""
    language = daemon.profile.language
    if daemon.profile.offline is None:
        raise EngineError(say(language, "offline_switch_disabled"), code="offline_disabled")
    health = daemon.interpreter.health
    async with daemon.operation_lock:
        switched = health.switched
        if offline == (switched is not None):
            message = say(language, "offline_switch_already_on", since=clock_time(switched["since"])) \
                if switched is not None else say(language, "offline_switch_already_off")
            return {"offline": offline, "changed": False, "message": message, "switched": public(health)}
        facts: dict[str, Any] | None = {"operator": operator, "role": role, "since": time.time()} if offline else None
        daemon.journal.set_state(STATE_KEY, json.dumps(facts) if facts else None, operator=operator, role=role,
                                 event=EVENT, details={"offline": offline})
        health.switch(_facts(daemon, facts) if facts else None)
        if offline:
            await daemon.link.close()  # nothing more goes out on it
        log.warning("%s by the %s", "switched offline" if offline else "switched back online", role)
    return {"offline": offline, "changed": True, "message": say(language, f"offline_switch_{'on' if offline else 'off'}"),
            "switched": public(health)}
