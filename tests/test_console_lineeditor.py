"""The console's line editor: bytes in, lines and echo out; secrets never echoed."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.console.lineeditor import MAX_LINE_CHARS, Cancelled, Echo, EndOfInput, Line, LineEditor


def lines_of(editor: LineEditor, data: bytes) -> list:
    return editor.feed(data)[1]


def test_cr_lf_and_crlf_each_end_one_line():
    editor = LineEditor()
    assert lines_of(editor, b"a\rb\nc\r\nd\n") == [Line("a"), Line("b"), Line("c"), Line("d")]


def test_crlf_split_across_two_reads_is_one_line_end():
    editor = LineEditor()
    assert lines_of(editor, b"status\r") == [Line("status")]
    assert lines_of(editor, b"\nhelp\r") == [Line("help")]


def test_two_crs_are_two_lines():
    assert lines_of(LineEditor(), b"\r\r") == [Line(""), Line("")]


def test_backspace_and_del_remove_one_character_and_rub_it_out():
    editor = LineEditor()
    echo, events = editor.feed(b"statuz\x08s\x7f\x7fus\r")
    assert events == [Line("status")]
    assert b"z\b \bs\b \b\b \bus" in echo


def test_ctrl_u_erases_the_line():
    editor = LineEditor()
    echo, events = editor.feed(b"config show\x15help\r")
    assert events == [Line("help")]
    assert echo.count(b"\b \b") == len("config show")


def test_ctrl_c_cancels_the_half_typed_line():
    editor = LineEditor()
    echo, events = editor.feed(b"reversals retry\x03")
    assert events == [Cancelled()] and echo.endswith(b"^C\r\n")
    assert lines_of(editor, b"status\r") == [Line("status")]


def test_ctrl_d_on_an_empty_line_is_end_of_input_and_ignored_otherwise():
    assert lines_of(LineEditor(), b"\x04") == [EndOfInput()]
    assert lines_of(LineEditor(), b"ab\x04c\r") == [Line("abc")]


def test_arrow_keys_and_other_escape_sequences_are_swallowed():
    editor = LineEditor()
    echo, events = editor.feed(b"sta\x1b[A\x1b[1;5Dtus\x1bOP\r")
    assert events == [Line("status")] and b"\x1b" not in echo


def test_utf8_split_across_reads_and_wide_characters_rub_out_two_columns():
    editor = LineEditor()
    text = "店名".encode("utf-8")
    assert editor.feed(text[:2])[1] == []
    echo, _ = editor.feed(text[2:])
    assert echo == text
    echo, _ = editor.feed(b"\x7f")
    assert echo == b"\b\b  \b\b"
    assert lines_of(editor, b"\r") == [Line("店")]


def test_an_over_long_line_rings_the_bell_and_keeps_the_limit():
    editor = LineEditor()
    echo, events = editor.feed(b"x" * (MAX_LINE_CHARS + 5) + b"\r")
    assert events == [Line("x" * MAX_LINE_CHARS)] and echo.count(b"\x07") == 5


def test_stars_mode_shows_one_star_per_character_and_never_the_text():
    editor = LineEditor(echo=Echo.STARS)
    echo, events = editor.feed(b"s3cr3t!\x7f!\r")
    assert events == [Line("s3cr3t!")]
    assert b"s3cr3t" not in echo and echo.startswith(b"*******")


def test_none_mode_echoes_nothing_but_the_line_end():
    editor = LineEditor(echo=Echo.NONE)
    echo, events = editor.feed(b"hunter22\x08\r")
    assert events == [Line("hunter2")] and echo == b"\r\n"


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_byte_stream_gives_only_known_events_and_bounded_lines(data):
    editor = LineEditor()
    echo, events = editor.feed(data)
    for event in events:
        assert isinstance(event, (Line, Cancelled, EndOfInput))
        if isinstance(event, Line):
            assert len(event.text) <= MAX_LINE_CHARS and "\r" not in event.text and "\n" not in event.text
            assert all(c.isprintable() for c in event.text)
    assert isinstance(echo, bytes)


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_feeding_in_pieces_gives_the_same_lines_as_all_at_once(pieces):
    whole = LineEditor().feed(b"".join(pieces))[1]
    editor = LineEditor()
    split = [e for piece in pieces for e in editor.feed(piece)[1]]
    assert split == whole


@settings(max_examples=200)
@given(password=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=4, max_size=40),
       noise=st.binary(max_size=40), mode=st.sampled_from([Echo.STARS, Echo.NONE]))
def test_a_typed_secret_never_appears_in_the_echo(password, noise, mode):
    editor = LineEditor(echo=mode)
    echo, events = editor.feed(noise + b"\x15" + password.encode() + b"\r")
    assert password.encode() not in echo
    assert Line(password) in events


@pytest.mark.slow
@settings(max_examples=5000 if os.environ.get("POSAGENT_LONG_FUZZ") else 300)
@given(noise=st.binary(max_size=200), password=st.text(alphabet="abcdefghjkmnpqrstuvwxyz0123456789!#%", min_size=6,
                                                        max_size=30))
def test_long_fuzz_secret_after_any_noise_is_never_echoed(noise, password):
    editor = LineEditor(echo=Echo.STARS)
    echo, _ = editor.feed(noise + b"\x03")
    echo, events = editor.feed(password.encode() + b"\r")
    assert password.encode() not in echo and events == [Line(password)]
