"""The transaction engine: operations as sans-IO plans.

A plan is a generator: it yields *effects* (journal writes and queries, messages to exchange with the
host, card reads, screen events) and receives their results; it returns the operation's outcome or
raises an `EngineError` written for the operator.  It never opens a socket, reads a clock or touches a
file — the daemon (`agent.daemon`) performs the effects, and tests drive plans directly.
"""
