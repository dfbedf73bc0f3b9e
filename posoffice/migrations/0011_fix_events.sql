-- A multi-step fix's events are `fix.plan`, `fix.step`, `fix.done` and `fix.closed` since the terminals renamed
-- them; the office keeps the `chain.*` ones already shipped (events are never rewritten) and reads both
-- (agent/journal/states.py FIX_EVENTS), so Today's alert index lists both spellings (posoffice/overview.py
-- ALERT_KINDS, spelled out by posoffice/lookups.py so that the planner matches this partial index).
DROP INDEX events_alerts;
CREATE INDEX events_alerts ON events (terminal, seq) WHERE kind IN ('fix.plan', 'chain.plan', 'fix.step',
    'chain.step', 'fix.done', 'chain.done', 'fix.closed', 'chain.closed', 'reversal.failed', 'reversal.done',
    'reversal.handled');
