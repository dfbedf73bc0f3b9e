"""The operator commands' exit statuses (see `agent.daemon.commands`): 0 done or approved, then these."""

EXIT_DECLINED, EXIT_USAGE, EXIT_AUTH, EXIT_CONFIRM, EXIT_UNKNOWN, EXIT_OPEN = 1, 2, 3, 4, 5, 6
