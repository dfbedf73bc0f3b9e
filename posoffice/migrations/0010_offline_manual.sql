-- A stored sale never sent to the bank (its sealed card does not open: `advice.needs_manual`) and a supervisor
-- marking it handled (`advice.handled`) — few events, read by Today's alert and `posoffice manual`
-- (posoffice/offline.py MANUAL_KINDS, posoffice/lookups.py offline_never_sent) without walking every event.
CREATE INDEX events_offline_manual ON events (terminal, seq) WHERE kind IN ('advice.needs_manual', 'advice.handled');
