"""`posagent run`: the daemon's process, from the preflight of its configuration to the signal that stops
it: the daemon opened, the control API served, the recovery and the whole journal's check started, the
background tasks (`agent.daemon.background`) and the technician's console started, all stopped in turn.
The daemon's modules load here, when `run` runs: the other commands' processes never import them."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from agent.config import load_for_command
from agent.errors import UsageError
from agent.logsetup import setup_logging

log = logging.getLogger("posagent.daemon")


def run(args: argparse.Namespace) -> int:
    from agent.daemon import background, startup
    from agent.daemon.consolechild import start_console_child, stop_console_child
    from agent.daemon.control import serve
    from agent.daemon.service import Daemon

    from agent.drivers.preflight import problems
    cfg = load_for_command(args)
    found = problems(cfg)
    if found:  # the first one on the line; `posagent config check` lists them all
        more = f" (and {len(found) - 1} more: posagent config check)" if len(found) > 1 else ""
        raise UsageError(f"{cfg.source or 'built-in defaults'}: {found[0]}{more}")
    setup_logging(cfg.daemon.log_level, cfg.daemon.log_file)
    daemon = Daemon(cfg, test_cards_path=args.test_cards)
    daemon.open()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            server = await serve(daemon, cfg.path("daemon", "control_socket"), int(cfg.daemon.socket_mode, 8))
            # recovery holds the operation lock from its first step, so every request waits behind it;
            # "ready" does not wait for an unreachable host (the reversals then still go first)
            recovery = asyncio.create_task(daemon.recover())
            verifying = asyncio.create_task(startup.verify_journal(daemon) if cfg.journal.check_whole_at_start
                                            else asyncio.sleep(0))
            # store-and-forward: what is owed goes out by itself once the bank answers again
            forwarding = (asyncio.create_task(background.forward_owed(
                daemon, longest_delay=float(cfg.offline.retry_seconds))) if daemon.profile.offline else None)
            every = float(cfg.emv.params_check_seconds)
            checking = (asyncio.create_task(background.check_params_on_schedule(daemon, every))
                        if every and daemon.dialect.param_download is not None else None)
            await asyncio.sleep(0)
            print(f"posagent ready: control socket {cfg.path('daemon', 'control_socket')}", flush=True)
            log.info("ready")
            console = start_console_child(cfg)  # [console] port set: the technician's serial console
            await stop.wait()
            recovery.cancel()
            verifying.cancel()
            for task in (forwarding, checking):
                if task is not None:
                    task.cancel()
            stop_console_child(console)
            server.close()
            await server.wait_closed()
        finally:
            await daemon.close()

    asyncio.run(main())
    return 0
