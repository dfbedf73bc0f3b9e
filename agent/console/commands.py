"""The technician's commands: one table of words → handler, each a thin call to the daemon's control API.

`CommandTable.run(line)` splits the line (shell-style quoting for reasons with spaces), finds the
longest matching command words and returns a `Reply`.  Errors become one line ("error: ...");
nothing here holds business rules: the daemon does the work, the console asks and prints.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shlex
from dataclasses import dataclass
from typing import Any, Callable

from agent.console import configedit, offline, views
from agent.console.context import DaemonDown, DaemonRefused
from agent.console.keyceremony import load_master_key, master_key_file
from agent.console.queues import QueueCommands
from agent.console.texts import say
from agent.console.session import Question, Reply
from agent.errors import PosagentError, UsageError
from agent.journal.export import render_text
from agent.journal.states import KINDS
from agent.money import parse_amount
from agent.engine.receipts import display_width

log = logging.getLogger("posagent.console")

#: the most journal rows `journal tail` prints
MAX_TAIL = 200
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
HELP_COLUMNS = 80


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    usage: str
    help: str
    handler: Callable[["CommandTable", list[str]], Reply]


class CommandTable(QueueCommands):
    """The technician's commands (`COMMANDS`), each a method reading the daemon through `Asking`."""

    # -- dispatch ---------------------------------------------------------------------------------
    def run(self, line: str) -> Reply:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(say(self.language, "u.cannot_read", detail=exc)) from None
        lowered = [w.lower() for w in words]
        for command in sorted(COMMANDS, key=lambda c: -len(c.words)):
            n = len(command.words)
            if tuple(lowered[:n]) == command.words:
                return command.handler(self, words[n:])
        raise UsageError(say(self.language, "u.unknown", line=line.strip()))

    # -- commands ---------------------------------------------------------------------------------
    def help(self, args: list[str]) -> Reply:
        lines = []
        for c in COMMANDS:  # fits an 80-column terminal: a long usage gets its own line
            text = say(self.language, "help." + "_".join(c.words))
            if len(c.usage) <= 28 and 30 + display_width(text) < HELP_COLUMNS:
                lines.append(f"{c.usage:<28}  {text}")
            else:
                lines += [c.usage, f"{'':<30}{text}"]
        return Reply("\n".join(lines))

    def status(self, args: list[str]) -> Reply:
        self._no_args(args, "status")
        try:
            text = views.status(self.call("status"), self.language, self.exponent)
        except DaemonDown as exc:
            try:
                text = f"{exc}\n{views.journal_status(offline.journal_status(self.ctx.cfg), self.language)}"
            except PosagentError as unreadable:  # no journal yet, or one that cannot be read: say so, go on
                text = f"{exc}\n{self._say('error', detail=unreadable)}"
        return Reply("\n".join([text, *self._master_key_lines()]))

    def params(self, args: list[str]) -> Reply:
        """The chip parameter set in force: version, digest, where it came from, the last download."""
        self._no_args(args, "params")
        return Reply(views.params(self.call("status").get("params") or {}, self.language))

    def params_download(self, args: list[str]) -> Reply:
        self._no_args(args, "params download")
        return Reply(views.outcome(self.call("params_download")))

    def _master_key_lines(self) -> list[str]:
        """The master key in force and the one waiting for its first sign-on, by check value, from the key files."""
        kept = master_key_file(self.ctx.cfg).waiting()
        if kept is None:
            return []
        return [self._say("st.master_waiting", previous=self._key_name(kept[0]), waiting=kept[1])]

    def _key_name(self, check_value: str) -> str:
        if check_value != "development":
            return check_value
        from agent.keys.load import check_value as kcv
        return self._say("st.development", kcv=kcv(bytes.fromhex(self.ctx.cfg.keys.tmk)))

    def echo(self, args: list[str]) -> Reply:
        self._no_args(args, "link test")
        return Reply(views.outcome(self.call("echo")))

    def signon(self, args: list[str]) -> Reply:
        self._no_args(args, "sign-on")
        try:
            said = views.outcome(self.call("signon"))
        except DaemonDown:
            raise
        except DaemonRefused as exc:
            said = self._say("error", detail=exc)
        kept = master_key_file(self.ctx.cfg).waiting()
        if kept is not None and "keys rejected" in said:  # the bank does not know the newly loaded master key
            said += "\n" + self._say("key.rejected", waiting=kept[1], previous=self._key_name(kept[0]))
        return Reply(said)

    def keys_restore_previous(self, args: list[str]) -> Reply:
        """The master key in force before the last `keys load` back in force (the bank rejected the new one)."""
        self._no_args(args, "keys restore-previous")
        keys = master_key_file(self.ctx.cfg)
        kept = keys.waiting()
        if kept is None:
            raise UsageError(self._say("u.no_previous"))
        restored = keys.restore_previous()
        from agent.keys.store import default_key_file
        default_key_file(self.ctx.cfg).unlink(missing_ok=True)  # working keys of either key: the next sign-on brings them
        self.ctx.audit("keys_restored", {"check_value": restored, "set_aside": kept[1], "by": "technician"})
        return Reply(self._say("key.restored", kcv=self._key_name(restored), waiting=kept[1]))

    def daemon_start(self, args: list[str], *, restart: bool = False) -> Reply:
        self._no_args(args, "daemon restart" if restart else "daemon start")
        if not self.ctx.cfg.console.may_start_daemon:
            raise UsageError(self._say("u.may_not_start"))
        running = offline.daemon_answers(self.ctx.cfg)
        if running and not restart:
            raise UsageError(self._say("u.daemon_running"))
        helper = offline.start(self.ctx.cfg, restart=running)
        log.warning("daemon %s from the technician console", "restart" if running else "start")
        try:  # a console the old daemon runs is stopped with it here; the new daemon starts a fresh one
            said = (helper.communicate(timeout=offline.START_WAIT_SECONDS + offline.STOP_WAIT_SECONDS + 5)[0]
                    or "").strip()
        except Exception:  # noqa: BLE001 — the helper goes on by itself; say what is known
            said = ""
        if not said.startswith("started "):
            raise DaemonRefused(said.removeprefix("error ") or self._say("daemon_no_answer"))
        pid = int(said.split()[1])
        self.ctx.audit("daemon_started", {"pid": pid, "restart": running, "by": "technician"})
        return Reply(self._say("daemon_started", pid=pid))

    def config_show(self, args: list[str]) -> Reply:
        if len(args) > 1:
            raise UsageError(self._say("u.usage", usage="config show [SECTION]"))
        return Reply(configedit.show(self.ctx.cfg, args[0] if args else None, self.language))

    def config_set(self, args: list[str]) -> Reply:
        if not args or len(args) > 2:
            raise UsageError(self._say("u.config_set"))
        section, key = configedit.resolve(args[0], self.language)
        self._may_set(section, key)
        if self.ctx.config_path is None:
            raise UsageError(self._say("u.defaults_only"))
        if configedit.is_secret(section, key):
            if len(args) == 2:
                raise UsageError(self._say("u.secret_inline", name=f"{section}.{key}"))
            if configedit.is_password(section, key):
                return self._ask_new_password(section, key)
            return Reply(ask=Question(self._say("ask.secret", name=f"{section}.{key}"), secret=True,
                                      then=lambda text: self._save(section, key, configedit.parse_typed(
                                          section, key, text, self.language, self.exponent))))
        if len(args) != 2:
            raise UsageError(self._say("u.usage", usage=f"config set {section}.{key} VALUE"))
        return self._save(section, key, configedit.parse_typed(section, key, args[1], self.language, self.exponent))

    def _ask_new_password(self, section: str, key: str) -> Reply:
        role = "technician" if section == "console" else section

        def first(password: str) -> Reply:
            value = configedit.password_value(password, self.language)

            def second(again: str) -> Reply:
                if again != password:
                    raise UsageError(self._say("u.passwords_differ"))
                if role != "technician":
                    return self._save(section, key, value)
                # the daemon checks the technician's password against the file: from the save on, it is the new one
                was, self.ctx.password = self.ctx.password, password
                try:
                    return self._save(section, key, value)
                except BaseException:
                    self.ctx.password = was
                    raise

            return Reply(ask=Question(self._say("ask.again"), second, secret=True))

        return Reply(ask=Question(self._say("ask.new_password", role=role), first, secret=True))

    def _save(self, section: str, key: str, value: Any) -> Reply:
        assert self.ctx.config_path is not None
        self.ctx.cfg = configedit.save(self.ctx.config_path, section, key, value, self.language)
        self.ctx.audit("config_set", {"key": f"{section}.{key}", "by": "technician"})
        text = self._say("saved", what=configedit.describe(section, key, value), path=self.ctx.config_path)
        if (section, key) == ("daemon", "log_level"):
            text += self._say("saved_log")
        return Reply(text)

    def journal_tail(self, args: list[str]) -> Reply:
        if len(args) > 1:
            raise UsageError(self._say("u.usage", usage="journal tail [N]"))
        count = self._whole(args[0], "N", 1, MAX_TAIL) if args else 10
        return self._transactions({"limit": count})  # newest first, as `posagent journal list`

    def journal_search(self, args: list[str]) -> Reply:
        criteria = self._pairs(args)
        if not criteria:
            raise UsageError(self._say("u.search"))
        query: dict[str, Any] = {"limit": MAX_TAIL}
        for name, value in criteria:
            if name == "trace":
                query["trace"] = self._whole(value, "trace", 1, 999_999)
            elif name == "amount":
                try:
                    query["amount"] = parse_amount(value, self.exponent)
                except PosagentError:
                    if self.language == "en":
                        raise
                    raise UsageError(self._say("u.amount", value=value)) from None
            elif name == "last4":
                if not (len(value) == 4 and value.isascii() and value.isdigit()):
                    raise UsageError(self._say("u.last4", value=value))
                query["last4"] = value
            elif name == "date":  # checked here so that the refusal is in the terminal's language
                if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) or not _is_day(value):
                    raise UsageError(self._say("u.date", value=value))
                query["date"] = value
            elif name == "rrn":
                if not re.fullmatch(r"[0-9A-Za-z ]{1,12}", value):
                    raise UsageError(self._say("u.rrn", value=value))
                query["rrn"] = value
            elif name == "kind":
                if value not in KINDS:
                    raise UsageError(self._say("u.kind", value=value, kinds=", ".join(KINDS)))
                query["kind"] = value
            else:
                raise UsageError(self._say("u.search_by", name=name))
        return self._transactions(query)

    def _transactions(self, query: dict[str, Any]) -> Reply:
        """The daemon's lookup; with the daemon down, the journal file read here (and said so)."""
        try:
            return Reply(views.transactions(self.call("lookup", query)["transactions"], self.exponent, self.language))
        except DaemonDown as exc:
            found = offline.transactions(self.ctx.cfg, query)
            return Reply(f"{exc}\n{views.transactions(found, self.exponent, self.language)}")

    def card_test(self, args: list[str]) -> Reply:
        if len(args) > 1:
            raise UsageError(self._say("u.usage", usage="card test [SECONDS]"))
        timeout = self._whole(args[0], "SECONDS", 1, 120) if args else 20
        if self.ctx.card_test is None:
            raise UsageError(self._say("u.no_card_test"))
        report = self.ctx.card_test(float(timeout))
        in_force = self._say("ct.params_unknown")
        if self.ctx.client is not None:  # the chip parameter set a transaction with this card would use
            try:
                in_force = views.params({k: v for k, v in (self.call("status").get("params") or {}).items()
                                         if k != "staged"}, self.language)
            except (DaemonDown, DaemonRefused):
                pass
        return Reply(f"{report}\n{in_force}")

    def log_level(self, args: list[str]) -> Reply:
        if len(args) > 1 or (args and args[0].upper() not in LOG_LEVELS):
            raise UsageError(self._say("u.usage", usage=f"log level [{'|'.join(LOG_LEVELS)}]"))
        result = self.call("log_level", {"level": args[0].upper()} if args else {}, password=self.ctx.password)
        if args:
            self.ctx.audit("log_level", {"level": result["level"]})
            return Reply(self._say("log_changed", was=result["was"], level=result["level"]))
        return Reply(self._say("log_is", level=result["level"]))

    def export(self, args: list[str]) -> Reply:
        if len(args) != 1:
            raise UsageError(self._say("u.export"))
        bundle = self.call("export", {"id": self._whole(args[0], "ID", 1, 2**62)})
        return Reply(render_text(bundle).rstrip("\n"))

    def reconcile(self, args: list[str]) -> Reply:
        """A statement of the statements directory, by name: the daemon reads it, reconciles it and journals
        the run under the technician (this console's login)."""
        if not 1 <= len(args) <= 2:
            raise UsageError(self._say("u.reconcile"))
        from agent.reconcile.cli import render_report
        from agent.reconcile.run import Run

        request = {"statement": args[0], "technician": True, **({"format": args[1]} if len(args) > 1 else {})}
        answer = self.call("reconcile", request, password=self.ctx.password)
        return Reply(render_report(Run.from_answer(answer), self.exponent).rstrip("\n"))

    def logout(self, args: list[str]) -> Reply:
        return Reply(say(self.language, "logged_out"), logout=True)


def _is_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


C = Command
COMMANDS: tuple[Command, ...] = (
    C(("help",), "help", "this list", CommandTable.help),
    C(("params", "download"), "params download", "download the chip parameters and CA keys from the acquirer",
      CommandTable.params_download),
    C(("params",), "params", "chip parameters in force: version, digest, source", CommandTable.params),
    C(("status",), "status", "link, keys, batch, reversal queue, journal, open fixes", CommandTable.status),
    C(("link", "test"), "link test", "echo test with the acquirer", CommandTable.echo),
    C(("echo",), "echo", "same as link test", CommandTable.echo),
    C(("sign-on",), "sign-on", "sign on: new working keys and batch number", CommandTable.signon),
    C(("signon",), "signon", "same as sign-on", CommandTable.signon),
    C(("config", "show"), "config show [SECTION]", "settings in effect (secrets: (set))",
      CommandTable.config_show),
    C(("config", "set"), "config set SECTION.KEY VALUE", "change and save a setting (secret: asked hidden)", CommandTable.config_set),
    C(("keys", "load"), "keys load", "load the terminal master key: each custodian logs in for their component",
      lambda table, args: load_master_key(table.ctx, args)),
    C(("keys", "restore-previous"), "keys restore-previous",
      "the master key before the last keys load, back",
      CommandTable.keys_restore_previous),
    C(("daemon", "start"), "daemon start", "start the daemon (if [console] may_start_daemon)", CommandTable.daemon_start),
    C(("daemon", "restart"), "daemon restart", "stop and start the daemon (if [console] may_start_daemon)",
      lambda table, args: table.daemon_start(args, restart=True)),
    C(("journal", "tail"), "journal tail [N]", "the last N transactions (default 10)", CommandTable.journal_tail),
    C(("journal", "search"), "journal search FIELD VALUE", "find by trace, amount, last4, date, rrn or kind",
      CommandTable.journal_search),
    C(("offline", "declined"), "offline declined [ack]", "stored sales the bank declined; ack: seen (supervisor)",
      CommandTable.offline_declined),
    C(("offline", "manual"), "offline manual", "stored sales the bank was never told of (sealed card does not open)",
      CommandTable.offline_manual),
    C(("offline", "handled"), "offline handled ID NOTE", "mark one of them handled (supervisor password)",
      CommandTable.offline_handled),
    C(("offline",), "offline on|off", "switch the terminal offline by hand, or back (supervisor)",
      CommandTable.offline_switch),
    C(("reversals",), "reversals", "the reversal queue", CommandTable.reversals_list),
    C(("reversals", "retry"), "reversals retry", "send pending reversals now", CommandTable.reversals_retry),
    C(("reversals", "handled"), "reversals handled ID REASON", "mark one handled (supervisor password)", CommandTable.reversals_handled),
    C(("card", "test"), "card test [SECONDS]", "ATR and applications of a card (no PAN)",
      CommandTable.card_test),
    C(("log", "level"), "log level [LEVEL]", "show or change the daemon's log level now", CommandTable.log_level),
    C(("export",), "export ID", "evidence bundle of a transaction's purchase", CommandTable.export),
    C(("reconcile",), "reconcile NAME [FORMAT]", "the acquirer's statement against the journal, to the cent",
      CommandTable.reconcile),
    C(("logout",), "logout", "end the session (or exit, quit, Ctrl-D)", CommandTable.logout),
    C(("exit",), "exit", "same as logout", CommandTable.logout),
    C(("quit",), "quit", "same as logout", CommandTable.logout),
)
