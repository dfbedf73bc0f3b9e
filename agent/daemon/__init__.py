"""The daemon (`posagent run`): wires the engine's plans to the journal, the host link, the card
reader and the control API with asyncio.  Only here do effects become I/O."""
