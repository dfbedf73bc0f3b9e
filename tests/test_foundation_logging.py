"""Logging: one line per event, and no PAN-like digit run ever reaches a log file."""

from __future__ import annotations

import logging

from hypothesis import given, strategies as st

from agent.logsetup import setup_logging
from agent.masking import mask_digit_runs, mask_pan


def test_mask_pan_keeps_first_six_and_last_four():
    assert mask_pan("6226090000000048") == "622609******0048"
    assert mask_pan("1234") == "****"


@given(st.text(alphabet="0123456789", min_size=13, max_size=19))
def test_any_pan_length_is_masked_inside_text(pan):
    out = mask_digit_runs(f"card={pan}=3012 done")
    assert pan not in out
    assert out.startswith(f"card={pan[:6]}")


def test_log_file_gets_masked_single_lines(tmp_path):
    log_file = tmp_path / "agent.log"
    setup_logging("DEBUG", str(log_file))
    log = logging.getLogger("test")
    log.info("sale with pan %s\nsecond line", "6226090000000048")
    try:
        raise ValueError("bad track 6226090000000048=30122200000000000")
    except ValueError:
        log.exception("card read failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert "6226090000000048" not in text
    assert "622609******0048" in text
    assert len(text.splitlines()) == 2
    setup_logging("WARNING")
