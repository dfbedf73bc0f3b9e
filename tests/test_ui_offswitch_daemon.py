"""The supervisor switches the terminal offline on the keypad (`posim terminal` in tmux, 16×4, the smallest
display) on the real daemon: 9 Manage, 2 Go offline, the password; the switched banner comes by itself from
the agent's status and the journal holds the switch; 9, 3 brings it back and the banner goes."""

from __future__ import annotations

from tests.agentproc import SUPERVISOR_PASSWORD, start_agent
from tests.test_offline_switch import switch_events
from tests.test_offline_selling import wait_for
from tests.test_ui_terminal import short_dir, terminal_in_tmux  # noqa: F401


def test_the_supervisor_switches_offline_and_back_on_the_keypad(tmp_path, sim_host, terminal_in_tmux):
    agent = start_agent(tmp_path, sim_host.port, extra="[offline]\nenabled = true\n")
    try:
        tmux = terminal_in_tmux(agent.config, "--size", "16x4")
        tmux.wait_for("POSAGENT")
        tmux.keys("9")
        tmux.wait_for("MANAGE")
        tmux.keys("2")
        tmux.wait_for("GO OFFLINE")
        tmux.type("111111")  # a wrong password first: nothing switched, ENTER keys it again
        tmux.keys("Enter")
        tmux.wait_for("BAD PASSWORD")
        tmux.keys("Enter")
        tmux.wait_for("GO OFFLINE")
        tmux.type(SUPERVISOR_PASSWORD)
        tmux.keys("Enter")
        tmux.wait_for("DONE", "Switched")
        tmux.keys("Enter")
        tmux.wait_for("SUP OFF 0: 0.00")  # by itself, from the agent's status
        link = agent.call("status")["result"]["link"]
        assert link["state"] == "down" and link["switched"]["role"] == "supervisor", link
        assert switch_events(agent) == [("supervisor", "supervisor", 1)]

        tmux.keys("9")
        tmux.wait_for("MANAGE")
        tmux.keys("3")
        tmux.wait_for("BACK ONLINE")
        tmux.type(SUPERVISOR_PASSWORD)
        tmux.keys("Enter")
        tmux.wait_for("DONE", "Back online")
        tmux.keys("Enter")
        assert wait_for(lambda: "SUP OFF" not in tmux.screen(), 10), tmux.screen()
        assert switch_events(agent) == [("supervisor", "supervisor", 1), ("supervisor", "supervisor", 0)]
    finally:
        agent.stop()
