"""Chip parameter and CA key download: the set in force is always exactly the old or exactly the new one.

Driven sans-IO against the simulator's acquirer (tests/enginekit.py): every wire fault at every message of
the download, a cut after every step of the plan (the journal reopened as after a kill), malformed sets
refused whole with one line naming the key or AID and the field.  A real SIGKILL between the journal
writes of a download is in test_params_download_kill.py; the pcscd end to end in test_params_download_e2e.py.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.engine import effects as fx, params
from agent.engine.paramset import AidEntry, ParamError, ParamSet, ca_key_entry, check_aid, check_key
from agent.iso8583 import get_dialect
from agent.journal import Journal
from simulator import emvpki
from tests.enginekit import CORRUPT_MAC, DELIVER, LOSE_ANSWER, LOSE_REQUEST, REFUSE, World

SPEC = get_dialect("cup").param_download
TODAY = dt.date(2026, 6, 1)
FILES = ParamSet("00000000", "00000000")
CA = emvpki.load_pki().ca
OLD_KEY = ca_key_entry(emvpki.RID, 0x08, CA.modulus_bytes(), CA.exponent_bytes(), "20311231")
#: a second CA key (the issuer key pair of the test PKI serves as its RSA numbers)
NEW_RSA = next(iter(emvpki.load_pki().issuers.values()))
NEW_KEY = ca_key_entry(emvpki.RID, 0x09, NEW_RSA.modulus_bytes(), NEW_RSA.exponent_bytes(), "20321231")


def request(trigger: str = "technician") -> params.DownloadRequest:
    return params.DownloadRequest(SPEC, FILES, TODAY, trigger)


def world(tmp_path) -> World:
    """A terminal signed on with version 1 in force (key 08, floor limit 500.00); version 2 waiting on the
    host: key 08 revoked, key 09 published, new TACs and floor limit."""
    w = World(tmp_path)
    w.host.params.rotate(OLD_KEY)
    w.host.params.publish(floor_limit=50000)
    signon, outcome, problem = w.run(params.sign_on(w.profile, request("signon")))
    assert problem is None and outcome.status == "done", problem
    w.old = w.journal.params_in_force().digest
    w.host.params.rotate(NEW_KEY)
    w.host.params.revoke("A000000333/08")
    w.host.params.publish(floor_limit=20000, tac_denial="0010000000", target_percent=10, max_target_percent=30,
                          threshold=5000)
    return w


def in_force(w: World) -> str:
    record = w.journal.params_in_force()
    return record.digest if record is not None else "files"


def new_digest(w: World) -> str:
    published = w.host.params.for_terminal("10000001")
    new = ParamSet(f"{published.params_version:08d}", f"{published.keys_version:08d}",
                   tuple(published.aids.values()), tuple(published.keys.values()), "download")
    return new.digest


def test_sign_on_announces_newer_parameters_and_the_terminal_downloads_and_reports_them(tmp_path):
    w = world(tmp_path)
    signon, outcome, problem = w.run(params.sign_on(w.profile, request("signon")))
    assert problem is None and "installed: version 00000002/00000003" in outcome.message
    record = w.journal.params_in_force()
    assert record.digest == new_digest(w) and record.source == "download"
    assert [k["index"] for k in record.content["keys"]] == [0x09]
    assert {a["floor_limit"] for a in record.content["aids"]} == {20000}
    status = w.host.params.for_terminal("10000001").status
    assert status["params_version"] == "00000002" and status["digest"] == record.digest[:16].upper()
    again = w.run(params.download(w.profile, request()))
    assert "up to date" in again.message and in_force(w) == record.digest


def test_a_sign_on_with_nothing_newer_downloads_nothing(tmp_path):
    w = World(tmp_path)
    signon, outcome, problem = w.run(params.sign_on(w.profile, request("signon")))
    assert outcome is None and problem is None and w.journal.params_in_force() is None
    assert [m for m, _ in w.exchanges] == ["0800"]


FATES = (LOSE_REQUEST, LOSE_ANSWER, CORRUPT_MAC, REFUSE, "wrong_version", "not_ok", "garbled")


def faulty_wire(w: World, at: int, fate: str):
    """A wire that does `fate` to the `at`-th message of the download (1-based), delivering the others."""
    count = {"n": 0}
    original = w.host.handle

    def wire(message):
        if message is None:
            return DELIVER
        count["n"] += 1
        if count["n"] != at:
            return DELIVER
        if fate in (LOSE_REQUEST, LOSE_ANSWER, CORRUPT_MAC, REFUSE):
            return fate
        def bent(msg, now, **kw):  # the host answers, but not usably
            w.host.handle = original
            answer = original(msg, now, **kw)
            if fate == "not_ok":
                return answer.replace({39: "96"})
            if fate == "wrong_version" and SPEC.version_field in answer:
                return answer.replace({SPEC.version_field: "99999999"})
            if fate == "garbled" and SPEC.data_field in answer:
                return answer.replace({SPEC.data_field: b"\x31\x9F\x06\x05\xA0"})
            return answer.replace({11: "999999"})
        w.host.handle = bent
        return DELIVER
    return wire


def download_length(tmp_path) -> int:
    w = world(tmp_path / "count")
    before = len(w.exchanges)
    w.run(params.download(w.profile, request()))
    return len(w.exchanges) - before


def test_every_wire_fault_at_every_message_leaves_exactly_the_old_or_the_new_set(tmp_path):
    messages = download_length(tmp_path)
    assert messages == 2 + 1 + 1 + 3 + 1 + 1  # two lists, one key, its end, three AIDs, their end, status
    for at in range(1, messages + 1):
        for fate in FATES:
            w = world(tmp_path / f"{at}-{fate}")
            old, new = w.old, new_digest(w)
            w.wire = faulty_wire(w, at, fate)
            try:
                outcome = w.run(params.download(w.profile, request()))
            except fx.EngineError as exc:
                assert "\n" not in str(exc) and ("stopped at" in str(exc) or "abandoned" in str(exc)
                                                  or "refused" in str(exc)), exc
                outcome = None
            assert in_force(w) in (old, new), (at, fate)
            if outcome is None:
                assert in_force(w) == old, (at, fate)
            w.wire = lambda message: DELIVER
            w.run(params.download(w.profile, request()))
            assert in_force(w) == new, (at, fate)
            w.close()


def _effects_of_one_download(tmp_path) -> int:
    w = world(tmp_path / "effects")
    plan = params.download(w.profile, request())
    n, result = 0, None
    while True:
        try:
            effect = plan.send(result)
        except StopIteration:
            return n
        n += 1
        result = w.perform(effect)


def test_a_cut_after_every_step_leaves_the_old_or_the_new_set_and_the_next_download_resumes(tmp_path):
    total = _effects_of_one_download(tmp_path)
    for cut in range(total + 1):
        w = world(tmp_path / f"cut{cut}")
        old, new = w.old, new_digest(w)
        finished = w.cut_after(params.download(w.profile, request()), cut)
        w.journal.close()  # the process is gone: a new one opens the journal
        w.journal = Journal.open(w.tmp / "journal.db", fingerprint_key=b"k" * 32, clock=w.clock)
        w.port.journal = w.journal
        assert in_force(w) in (old, new), cut
        staged = w.journal.params_download_open()
        fetched_before = len(w.journal.params_items(staged.id)) if staged else 0
        before = len(w.exchanges)
        w.run(params.download(w.profile, request()))
        assert in_force(w) == new, cut
        if fetched_before:  # entries already staged are not asked for again
            assert len(w.exchanges) - before <= 10 - fetched_before, cut
        w.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=st.lists(st.lists(st.sampled_from((DELIVER, LOSE_REQUEST, LOSE_ANSWER, CORRUPT_MAC)),
                                  max_size=12), min_size=1, max_size=4))
def test_any_sequence_of_faulty_attempts_never_mixes_sets(tmp_path_factory, attempts):
    w = world(tmp_path_factory.mktemp("attempts"))
    old, new = w.old, new_digest(w)
    for fates in attempts:
        w.run_under(params.download(w.profile, request()), fates)
        assert in_force(w) in (old, new)
    w.run_under(params.download(w.profile, request()), [])
    assert in_force(w) == new
    w.close()


@pytest.mark.parametrize("corruption, named", [
    ("checksum", "CA key A000000333/09: checksum: does not match RID, index, modulus and exponent"),
    ("modulus-length", "CA key A000000333/09: "),
    ("aid-range", "AID A0000003330101: target_percent: expected 0 to 99, got 150"),
])
def test_a_malformed_set_is_refused_whole_with_one_line_and_the_old_set_stays(tmp_path, corruption, named):
    w = world(tmp_path)
    w.host.params.set_corrupt(corruption)
    with pytest.raises(fx.EngineError) as refused:
        w.run(params.download(w.profile, request()))
    text = str(refused.value)
    assert named in text and "\n" not in text and "nothing changed" in text, text
    assert in_force(w) == w.old and w.journal.params_download_open() is None
    w.host.params.set_corrupt(None)
    w.run(params.download(w.profile, request()))
    assert in_force(w) == new_digest(w)


@pytest.mark.parametrize("change, field", [
    (dict(rid="A0000003"), "rid"), (dict(exponent="05"), "exponent"), (dict(expiry="20261301"), "expiry"),
    (dict(expiry="20200101"), "expiry"), (dict(checksum="00" * 20), "checksum"), (dict(modulus="03" * 63), "modulus"),
])
def test_each_ca_key_rule_names_the_key_and_the_field(change, field):
    from dataclasses import replace
    with pytest.raises(ParamError) as refused:
        check_key(replace(NEW_KEY, **change), TODAY)
    assert refused.value.field == field and refused.value.item.startswith("CA key")


@pytest.mark.parametrize("change, field", [
    (dict(aid="A000"), "aid"), (dict(asi=2), "asi"), (dict(app_version="00"), "app_version"),
    (dict(tac_online="DC40"), "tac_online"), (dict(floor_limit=1000, threshold=1000), "threshold"),
    (dict(target_percent=40, max_target_percent=30), "target_percent"), (dict(max_target_percent=100), "max_target_percent"),
    (dict(default_ddol="9F02"), "default_ddol"), (dict(default_ddol="9F0206"), "default_ddol"),
])
def test_each_aid_rule_names_the_aid_and_the_field(change, field):
    with pytest.raises(ParamError) as refused:
        check_aid(AidEntry(**{"aid": "A0000003330101", **change}))
    assert refused.value.field == field and "AID" in refused.value.item


def test_the_journal_shows_which_set_each_download_installed(tmp_path):
    w = world(tmp_path)
    w.run(params.download(w.profile, request()))
    kinds = [row[0] for row in w.journal.core.conn.execute("SELECT kind FROM events WHERE kind LIKE 'params.%'")]
    assert kinds.count("params.installed") == 2 and "params.download" in kinds
    history = w.journal.params_history()
    assert [h.digest for h in history] == [new_digest(w), w.old]
    assert w.journal.verify().ok


def test_config_check_says_which_chip_parameters_run_uses_and_where_they_came_from(tmp_path):
    import subprocess
    import sys

    from tests.agentproc import ROOT
    w = world(tmp_path)
    config = tmp_path / "posagent.toml"
    config.write_text(f'[journal]\npath = "{tmp_path / "journal.db"}"\n'
                      f'fingerprint_key_file = "{tmp_path / "fp.key"}"\n')
    checked = subprocess.run([sys.executable, "-m", "agent", "config", "check", str(config)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    record = w.journal.params_in_force()
    assert f"downloaded set {record.params_version}/{record.keys_version} (digest {record.digest[:16]}" \
        in checked.stdout and "takes precedence over the local files" in checked.stdout, checked.stdout
    empty = tmp_path / "other.toml"
    empty.write_text(f'[journal]\npath = "{tmp_path / "none" / "journal.db"}"\n')
    (tmp_path / "none").mkdir()
    plain = subprocess.run([sys.executable, "-m", "agent", "config", "check", str(empty)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0 and "chip parameters: the configuration's" in plain.stdout, plain
