"""Lists longer than one answer: the acquirer pages its key and AID lists (the dialect's `more` marker, the
next query holding how many entries the terminal has), and the terminal reads every page before it downloads
a single entry — a page that changes version, repeats an entry, never ends or is garbled stops the download
with one line and the old set stays in force."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.engine import effects as fx, params
from agent.engine.paramset import ca_key_entry
from agent.iso8583 import tlv
from simulator.host import codes
from simulator.host.params import PAGE_BYTES
from tests.enginekit import LOSE_ANSWER, LOSE_REQUEST, World
from tests.test_params_download import CA, SPEC, in_force, new_digest, request, world


def many_keys(w: World, count: int) -> None:
    """`count` more CA keys published (indexes 0x20 up): a list that needs several answers."""
    for n in range(count):
        w.host.params.rotate(ca_key_entry(bytes.fromhex("A000000333"), 0x20 + n, CA.modulus_bytes(),
                                          CA.exponent_bytes(), "20311231"))


def queries(w: World, since: int) -> list[str]:
    return [what for mti, what in w.exchanges[since:] if mti == "0820"]


def test_a_list_of_keys_longer_than_one_answer_comes_in_pages_and_every_key_is_installed(tmp_path):
    w = world(tmp_path)
    many_keys(w, 60)  # 61 keys listed at 11 bytes each: more than the 511 bytes one answer holds
    assert 61 * len(tlv.encode([tlv.Tlv(0x9F06, b"\xA0\x00\x00\x03\x33"), tlv.Tlv(0x9F22, b"\x09")])) > PAGE_BYTES
    outcome = w.run(params.download(w.profile, request()))
    assert "installed" in outcome.message and "61 CA keys" in outcome.message, outcome.message
    record = w.journal.params_in_force()
    assert record.digest == new_digest(w)
    assert sorted(k["index"] for k in record.content["keys"]) == [0x09] + list(range(0x20, 0x20 + 60))


@pytest.mark.parametrize("per_answer", [1, 2])
def test_pages_of_any_size_give_the_same_set(tmp_path, per_answer):
    w = world(tmp_path)
    many_keys(w, 4)
    w.host.params.page_entries = per_answer
    before = len(w.exchanges)
    w.run(params.download(w.profile, request()))
    assert in_force(w) == new_digest(w)
    pages = -(-5 // per_answer) + -(-3 // per_answer)  # 5 keys and 3 AIDs listed
    assert len([m for m, _ in w.exchanges[before:] if m == "0820"]) == pages + 1  # and the status upload


def test_the_next_query_says_how_many_entries_the_terminal_holds(tmp_path):
    w = world(tmp_path)
    w.host.params.page_entries = 1
    asked = []
    original = w.host.handle

    def watching(msg, now, **kw):
        if msg.mti == "0820" and str(msg.get(60))[8:11] in ("372", "382"):
            asked.append(msg.get(SPEC.data_field))
        return original(msg, now, **kw)
    w.host.handle = watching
    w.run(params.download(w.profile, request()))
    assert asked == [None, None, b"001", b"002"]  # keys: one page; AIDs: three


def bend_lists(w: World, bend) -> None:
    """Every list answer passed through `bend(answer, n)` (n counts list answers from 1)."""
    original, count = w.host.handle, {"n": 0}

    def bent(msg, now, **kw):
        answer = original(msg, now, **kw)
        if msg.mti == "0820" and SPEC.version_field in answer and SPEC.data_field in answer:
            count["n"] += 1
            return bend(answer, count["n"])
        return answer
    w.host.handle = bent


@pytest.mark.parametrize("bend, words", [
    (lambda a, n: a.replace({SPEC.data_field: b"2" + tlv.encode([tlv.Tlv(0x9F06, bytes.fromhex("A000000333")),
                                                                  tlv.Tlv(0x9F22, b"\x09")])}), "listed twice"),
    (lambda a, n: a.replace({SPEC.version_field: f"{n:08d}"}) if n > 1 else a, "changed while it was read"),
    (lambda a, n: a.replace({SPEC.data_field: b"2"}), "lists none"),
    (lambda a, n: a.replace({SPEC.data_field: b"2\x9F\x06\x05\xA0"}) if n > 1 else a, "malformed list"),
])
def test_a_bad_page_stops_the_download_with_one_line_and_the_old_set_stays(tmp_path, bend, words):
    w = world(tmp_path)
    w.host.params.page_entries = 1
    bend_lists(w, bend)
    with pytest.raises(fx.EngineError, match=words) as stopped:
        w.run(params.download(w.profile, request()))
    assert "\n" not in str(stopped.value) and "stopped at" in str(stopped.value)
    assert in_force(w) == w.old


def test_a_list_that_never_ends_is_refused_after_the_most_pages(tmp_path):
    w = world(tmp_path)
    w.host.params.page_entries = 1
    counter = {"n": 0}

    def endless(answer, n):  # always "more", always a new entry
        counter["n"] += 1
        entry = tlv.encode([tlv.Tlv(0x9F06, bytes.fromhex("A000000333")), tlv.Tlv(0x9F22, bytes([n % 256]))])
        return answer.replace({SPEC.data_field: b"2" + entry})
    bend_lists(w, endless)
    with pytest.raises(fx.EngineError, match=f"past {params.MAX_LIST_PAGES} answers"):
        w.run(params.download(w.profile, request()))
    assert counter["n"] == params.MAX_LIST_PAGES and in_force(w) == w.old


@pytest.mark.parametrize("fate", [LOSE_REQUEST, LOSE_ANSWER])
def test_a_lost_page_stops_the_download_and_the_next_one_reads_the_list_again(tmp_path, fate):
    w = world(tmp_path)
    w.host.params.page_entries = 1
    count = {"n": 0}

    def wire(message):
        if message is not None and message.mti == "0820":
            count["n"] += 1
            if count["n"] == 3:  # the AID list's second page
                return fate
        return "deliver"
    w.wire = wire
    with pytest.raises(fx.EngineError, match="stopped at"):
        w.run(params.download(w.profile, request()))
    assert in_force(w) == w.old
    w.wire = lambda message: "deliver"
    w.run(params.download(w.profile, request()))
    assert in_force(w) == new_digest(w)


@pytest.mark.parametrize("offset", [b"1", b"0x1", b"abc", b"0001"])
def test_the_host_refuses_a_query_whose_offset_is_not_its_digits(tmp_path, offset):
    from agent.engine.netmgmt import build_network
    w = world(tmp_path)
    mti, nmc = SPEC.steps["aids_query"]
    query = build_network(w.profile.as_config(), "000123", mti, nmc, batch="000001", fields={SPEC.data_field: offset})
    answer = w.host.handle(query, dt.datetime.fromtimestamp(w.clock(), dt.timezone.utc))
    assert answer.get(39) == codes.FORMAT_ERROR
