-- Sales stored offline (store-and-forward): each try to forward one (`advice.attempt`) and a supervisor's
-- acknowledgement of one the bank declined (`offline.declined_seen`) — few events, read by Today's alerts and
-- `posoffice declined` (posoffice/offline.py OFFLINE_KINDS) without walking every event.
CREATE INDEX events_offline ON events (terminal, txn_id) WHERE kind IN ('advice.attempt', 'offline.declined_seen');
