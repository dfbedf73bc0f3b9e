-- The supervisor's switch of a terminal to offline by hand (`offline.switched`, with `offline` true or false):
-- Today's alert reads each terminal's last one (posoffice/lookups.py switched_offline) on this partial index.
CREATE INDEX events_switched ON events (terminal, seq) WHERE kind = 'offline.switched';
