"""What the console's commands work with: the daemon's client and the one way it is asked (its refusals
as one line, in the terminal's language), the configuration and where it is saved, and the checks of what
the technician typed.  `agent.console.commands` (and `agent.console.queues`) hold the commands themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from agent import config, roles
from agent.console import offline
from agent.console.session import Audit
from agent.console.texts import say
from agent.errors import PosagentError, UsageError


class DaemonRefused(PosagentError):
    """The daemon answered with an error (or could not be reached); its message is for the technician."""


class DaemonDown(DaemonRefused):
    """Nothing answers on the control socket: the commands that can, read the journal file themselves."""


class DaemonClient(Protocol):
    """What the console asks of the daemon's control API (`agent.control_client.ControlClient`)."""

    def call(self, op: str, args: Mapping[str, object] | None = None, *,
             password: str | None = None) -> dict[str, Any]: ...


@dataclass
class ConsoleContext:
    """What commands work with: the daemon's client, the configuration and where it is saved."""

    client: DaemonClient
    cfg: config.Config
    card_test: Callable[[float], str] | None = None
    audit: Audit = field(default=lambda kind, details: None)
    #: the logged-in technician's password, for the daemon operations that are the technician's own
    password: str | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path | None:
        return Path(self.cfg.source) if self.cfg.source else None


class Asking:
    """The daemon asked on the technician's behalf, and what was typed checked, for `CommandTable`."""

    def __init__(self, context: ConsoleContext):
        self.ctx = context

    def call(self, op: str, args: Mapping[str, object] | None = None, *,
             password: str | None = None) -> dict[str, Any]:
        """The daemon's `result` or `outcome`; `DaemonRefused` with its message otherwise."""
        try:
            reply = self.ctx.client.call(op, args or {}, password=password)
        except (PosagentError, OSError, ValueError) as exc:
            if not offline.daemon_answers(self.ctx.cfg):
                raise DaemonDown(self._say("daemon_down")) from None
            if isinstance(exc, PosagentError):
                raise DaemonRefused(str(exc)) from None
            raise DaemonRefused(say(self.language, "no_daemon", detail=f"{type(exc).__name__}: {exc}")) from None
        if not reply.get("ok"):
            raise DaemonRefused(reply.get("error", {}).get("message") or say(self.language, "daemon_refused"))
        answer: dict[str, Any] = reply["result"] if "result" in reply else reply.get("outcome", {})
        return answer

    @property
    def language(self) -> str:
        language: str = self.ctx.cfg.terminal.language
        return language

    @property
    def exponent(self) -> int:
        exponent: int = self.ctx.cfg.terminal.currency_exponent
        return exponent

    # -- checking what was typed (errors in the terminal's language) -------------------------------
    def _may_set(self, section: str, key: str) -> None:
        """The console is the technician's: `roles.check_setting` decides, the refusal is in the language."""
        try:
            roles.check_setting("technician", section, key)
        except UsageError:
            if self.language == "en":
                raise
            name, owner = f"{section}.{key}", roles.owner_of_password(section, key)
            if name in roles.INSTALLATION_ONLY:
                raise UsageError(self._say("u.installation", name=name)) from None
            if owner is not None and owner != "technician":
                raise UsageError(self._say("u.others_password", name=name, owner=owner)) from None
            raise UsageError(self._say("u.not_technician", name=name)) from None

    def _say(self, key: str, **values: object) -> str:
        return say(self.language, key, **values)

    def _no_args(self, args: list[str], usage: str) -> None:
        if args:
            raise UsageError(self._say("u.no_args", usage=usage))

    def _whole(self, text: str, what: str, lo: int, hi: int) -> int:
        if not (text.isascii() and text.isdigit()) or not lo <= int(text) <= hi:
            raise UsageError(self._say("u.whole", what=what, lo=lo, hi=hi, text=text))
        return int(text)

    def _pairs(self, args: list[str]) -> list[tuple[str, str]]:
        """``trace=12 amount 1.00`` → [("trace", "12"), ("amount", "1.00")]."""
        out, i = [], 0
        while i < len(args):
            name, eq, value = args[i].partition("=")
            if eq:
                i += 1
            elif i + 1 < len(args):
                value, i = args[i + 1], i + 2
            else:
                raise UsageError(self._say("u.needs_value", name=name))
            out.append((name.lower(), value))
        return out
