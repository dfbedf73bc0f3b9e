"""The technician's serial console: `posagent console --port DEVICE`.

Modules: `lineeditor` (bytes → lines, masked echo; sans-IO), `session` (login / lock / commands state
machine; sans-IO), `commands` (the command table over the daemon's control API), `configedit`
(typed values, atomic saves), `views` (text for an 80-column terminal), `files` (atomic writes, the
lock state file), `cardtest` (ATR and applications, never the PAN), `driver` (pyserial loop), `app`
(wiring from the configuration), `cli`.
"""
