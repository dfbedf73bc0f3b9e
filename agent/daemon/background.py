"""What the daemon runs beside the operations, with no caller waiting: store-and-forward's sender of what is
owed to the bank, the scheduled chip parameter check, and the shipper of the journal's events to the back
office.  The forwarder and the check wait their turn behind any operation; the shipper is a thread of its
own, reading the journal on its own connection."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from agent.daemon.interpreter import BackOffice
from agent.daemon.startup import DaemonError
from agent.engine import common
from agent.errors import PosagentError
from agent.journal import Journal

if TYPE_CHECKING:  # the daemon starts these; the office's modules load only while [office] url is set
    from agent.daemon.service import Daemon
    from agent.office.shipper import OfficeShipper

log = logging.getLogger("posagent.daemon")

#: store-and-forward's background sender: the first delay between tries and the longest (it doubles between)
FORWARD_FIRST_DELAY_S = 2.0
FORWARD_LONGEST_DELAY_S = 60.0


async def forward_owed(daemon: Daemon, *, first_delay: float = FORWARD_FIRST_DELAY_S,
                       longest_delay: float = FORWARD_LONGEST_DELAY_S) -> None:
    """Store-and-forward's background sender: while reversals, advices or TCs are owed, or the link is
    down, an echo goes out between operations — it sends what is owed first, in order — with a delay
    that doubles up to `longest_delay` while the bank does not answer and starts again once it does."""
    delay = first_delay
    while True:
        await asyncio.sleep(delay)
        health = daemon.interpreter.health
        lock = daemon.operation_lock
        if lock.locked() or health.switched is not None or not (health.down or owes_the_bank(daemon.journal)):
            continue  # the supervisor switched offline: the bank is not to be used until switched back
        async with lock:
            daemon.interpreter.notify = lambda text: None  # no caller waits for these words
            try:
                await daemon.interpreter.run(common.echo(daemon.profile))
            except Exception as exc:  # noqa: BLE001 — whatever stopped this try, the next one comes later
                problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.log(logging.INFO if isinstance(exc, PosagentError) else logging.ERROR,
                        "forwarding what is owed: %s; next try in %.0f s", problem, min(delay * 2, longest_delay))
                delay = min(delay * 2, longest_delay)
                continue
        log.info("forwarding what is owed: the bank answered; nothing is owed now")
        delay = first_delay


def owes_the_bank(journal: Journal) -> bool:
    """Reversals, advices or TCs the bank has not acknowledged yet."""
    recovery = journal.in_doubt()
    return bool(recovery.pending_reversals or journal.pending_advices() or journal.tc_upload_counts().get("owed"))


async def check_params_on_schedule(daemon: Daemon, every: float) -> None:
    """`[emv] params_check_seconds`: every so often, the chip parameter download as the technician's runs
    it (trigger "schedule"): it waits its turn behind any operation, asks for the lists, and downloads
    and installs a newer set; whatever stops one check, the next comes `every` seconds later."""
    while True:
        await asyncio.sleep(every)
        try:
            outcome = await daemon.perform("params_download", {"trigger": "schedule"}, authorized="technician",
                                           operator="schedule")
        except PosagentError as exc:
            log.warning("scheduled chip parameter check: %s; next in %.0f s", str(exc).splitlines()[0], every)
            continue
        log.info("scheduled chip parameter check: %s", outcome.message)


def start_shipper(daemon: Daemon) -> OfficeShipper | None:
    """Ship the journal's events to the back office beside the operations (`[office] url`; off when empty)."""
    cfg = daemon.cfg
    office = cfg.office
    if not office.url:
        return None
    from agent.office.link import ShipError, read_secret
    from agent.office.shipper import OfficeShipper
    try:
        secret = read_secret(cfg.path("office", "secret_file"))
    except ShipError as exc:
        raise DaemonError(f"office.secret_file: {exc}") from None
    ca_file = str(cfg.path("office", "ca_file")) if office.ca_file else None
    shipper = OfficeShipper(daemon.journal_path, office.url, cfg.terminal.terminal_id, secret,
                            interval=float(office.interval), ca_file=ca_file,
                            secret_file=cfg.path("office", "secret_file"))
    shipper.start()
    log.info("shipping the journal to the back office at %s every %g s", office.url, office.interval)
    # a refund of a sale made at another till asks the office what is still refundable (with the shipper's
    # secret: a rotated one is read once, by the shipper)
    daemon.interpreter.office = BackOffice(daemon.journal_path, office.url, cfg.terminal.terminal_id,
                                           lambda: shipper.secret, ca_file=ca_file)
    return shipper


def office_status(daemon: Daemon) -> dict[str, Any] | None:
    """How far the back office holds this journal; None when shipping is off."""
    if daemon.shipper is None:
        return None
    from agent.office.shipper import backlog
    error = daemon.shipper.last_error
    return {"url": daemon.cfg.office.url, **backlog(daemon.journal_path), "last_error": str(error) if error else None}
