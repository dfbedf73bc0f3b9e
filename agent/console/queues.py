"""The reversal queue and the sales stored offline, on the technician's console: what the bank is still owed
and what it declined after forwarding, the supervisor's marks on them (each asks the supervisor's password,
typed hidden), and the supervisor's hand switch for offline selling.

Apart from `agent.console.commands` because these commands work the daemon's queues of what is owed (list,
send now, mark handled) rather than the terminal's set-up; `CommandTable` takes them into its one table.
"""

from __future__ import annotations

from agent.console import views
from agent.console.context import Asking, DaemonRefused
from agent.console.session import Question, Reply
from agent.errors import UsageError


class QueueCommands(Asking):
    """`reversals …` and `offline …`: the queues the daemon keeps of what is owed, each read or marked through
    `Asking`."""

    def reversals_list(self, args: list[str]) -> Reply:
        self._no_args(args, "reversals")
        return Reply(views.reversals(self.call("reversals"), self.language))

    def reversals_retry(self, args: list[str]) -> Reply:
        self._no_args(args, "reversals retry")
        try:
            result = self.call("reversal_retry")
            said = result.get("message") or self._say("retry_said")
        except DaemonRefused as exc:
            said = self._say("error", detail=exc)
        # the queue itself is the truth (a reversal that ran out of tries is not "acknowledged")
        return Reply(f"{said}\n{views.reversals(self.call('reversals'), self.language)}")

    def offline_declined(self, args: list[str]) -> Reply:
        """The stored sales the bank declined after forwarding; `ack` marks them seen (supervisor password)."""
        if args not in ([], ["ack"]):
            raise UsageError(self._say("u.offline_declined"))
        if not args:
            return Reply(views.offline_declined(self.call("offline_declined"), self.exponent, self.language))

        def with_password(password: str) -> Reply:
            result = self.call("offline_declined", {"acknowledge": True}, password=password or None)
            return Reply(views.offline_declined(result, self.exponent, self.language))

        return Reply(ask=Question(self._say("ask.supervisor"), with_password, secret=True))

    def offline_manual(self, args: list[str]) -> Reply:
        """The stored sales whose sealed card does not open (never forwarded), and what the merchant does."""
        self._no_args(args, "offline manual")
        return Reply(views.offline_manual(self.call("offline_manual"), self.exponent, self.language))

    def offline_handled(self, args: list[str]) -> Reply:
        """`offline handled ID NOTE`: the supervisor marks one of them handled (password hidden)."""
        if len(args) < 2:
            raise UsageError(self._say("u.offline_handled"))
        txn_id = self._whole(args[0], "ID", 1, 2**62)
        note = " ".join(args[1:]).strip()
        if len(note) < 3:
            raise UsageError(self._say("u.reason_short"))

        def with_password(password: str) -> Reply:
            result = self.call("offline_manual_handled", {"id": txn_id, "note": note}, password=password or None)
            self.ctx.audit("advice_handled", {"id": txn_id})
            return Reply(self._say("off_handled", id=txn_id, trace=f"{result['trace']:06d}", note=note))

        return Reply(ask=Question(self._say("ask.supervisor"), with_password, secret=True))

    def offline_switch(self, args: list[str]) -> Reply:
        """`offline on|off`: the supervisor switches the terminal offline by hand, or back (password hidden)."""
        if len(args) != 1 or args[0].lower() not in ("on", "off"):
            raise UsageError(self._say("u.offline_switch"))

        def with_password(password: str) -> Reply:
            result = self.call("offline_switch", {"switch": args[0].lower()}, password=password or None)
            return Reply(result["message"])

        return Reply(ask=Question(self._say("ask.supervisor"), with_password, secret=True))

    def reversals_handled(self, args: list[str]) -> Reply:
        if len(args) < 2:
            raise UsageError(self._say("u.handled"))
        rev_id = self._whole(args[0], "ID", 1, 2**62)
        note = " ".join(args[1:]).strip()
        if len(note) < 3:
            raise UsageError(self._say("u.reason_short"))

        def with_password(password: str) -> Reply:
            self.call("reversal_handled", {"id": rev_id, "note": note}, password=password or None)
            self.ctx.audit("reversal_handled", {"id": rev_id})
            return Reply(self._say("rev_handled", id=rev_id, note=note))

        return Reply(ask=Question(self._say("ask.supervisor"), with_password, secret=True))
