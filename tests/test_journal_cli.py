"""`posagent journal ...`: tables for people, --json for programs, one line and exit 2 for bad input,
exit 1 when verify finds the journal broken.  The CLI only reads: it never changes the file."""

from __future__ import annotations

import json
import sqlite3

import pytest

from agent.cli import main
from agent.journal import Journal, verify_bundle

KEY = b"test-fingerprint-key-0123456789ab"
PAN = "6226090000000048"


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "journal.db"
    j = Journal.open(p, fingerprint_key=KEY)
    req = lambda trace, batch: {"mti": "0200", "11": f"{trace:06d}"}  # noqa: E731
    for amount, rrn in ((12000, "111111111111"), (12000, "222222222222"), (500, "333333333333")):
        t = j.begin("sale", amount=amount, currency="156", pan=PAN, entry_mode="051", operator="01",
                    role="cashier", request=req)
        j.complete(t.id, approved=True, response_code="00", rrn=rrn, auth_code="A1B2C3", response={"39": "00"})
    r = j.begin("refund", amount=2000, currency="156", pan=PAN, entry_mode="051", operator="01", role="supervisor",
                original_id=1, request=req)
    j.complete(r.id, approved=True, response_code="00", rrn=None, auth_code=None, response={"39": "00"})
    j.close()
    return p


def run(capsys, *argv):
    code = main(["journal", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_is_a_table_and_json_on_request(path, capsys):
    code, out, _ = run(capsys, "--journal", str(path), "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "TIME", "KIND", "STATE"] and len(lines) == 5
    assert "120.00" in out and "622609******0048" in out and "refunded_partially" in out
    code, out, _ = run(capsys, "--journal", str(path), "list", "--amount", "120.00", "--json")
    assert code == 0 and [t["id"] for t in json.loads(out)] == [2, 1]
    code, out, _ = run(capsys, "--journal", str(path), "list", "--rrn", "333333333333", "--json")
    assert [t["amount"] for t in json.loads(out)] == [500]


def test_show_purchase_duplicates_totals(path, capsys):
    code, out, _ = run(capsys, "--journal", str(path), "show", "1")
    assert code == 0 and "messages (masked):" in out and "txn.complete" in out
    code, out, _ = run(capsys, "--journal", str(path), "purchase", "4", "--json")
    assert [t["kind"] for t in json.loads(out)] == ["sale", "refund"]
    code, out, _ = run(capsys, "--journal", str(path), "duplicates", "--window", "600", "--json")
    assert [[t["id"] for t in g] for g in json.loads(out)] == [[1, 2]]
    code, out, _ = run(capsys, "--journal", str(path), "totals", "--json")
    totals = json.loads(out)
    assert (totals["debit_amount"], totals["debit_count"], totals["credit_amount"]) == (24500, 3, 2000)
    code, out, _ = run(capsys, "--journal", str(path), "totals")
    assert "batch 000001 (open)" in out and "245.00" in out


def test_export_writes_a_verifiable_bundle_and_a_printable_text(path, tmp_path, capsys):
    target = tmp_path / "bundle.json"
    code, out, _ = run(capsys, "--journal", str(path), "export", "--purchase", "1", "-o", str(target))
    assert code == 0 and "wrote 2 transaction(s)" in out
    assert verify_bundle(json.loads(target.read_text())) is None
    code, out, _ = run(capsys, "--journal", str(path), "export", "--since", "2000-01-01", "--text")
    assert code == 0 and "hash chain intact" in out and out.count("SALE") == 3


def test_the_names_before_the_rename_still_work_and_are_not_listed(path, tmp_path, capsys):
    """`journal purchase ID` and `export --purchase ID` were `chain` and `--chain` before the rename."""
    assert run(capsys, "--journal", str(path), "purchase", "4", "--json") == \
        run(capsys, "--journal", str(path), "chain", "4", "--json")
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert run(capsys, "--journal", str(path), "export", "--chain", "1", "-o", str(old))[0] == 0
    assert run(capsys, "--journal", str(path), "export", "--purchase", "1", "-o", str(new))[0] == 0
    assert json.loads(old.read_text())["scope"] == json.loads(new.read_text())["scope"] == {"purchase_of": 1}
    for argv in (["--help"], ["export", "--help"]):
        with pytest.raises(SystemExit):
            run(capsys, *argv)
        shown = capsys.readouterr().out
        assert "purchase" in shown and "chain" not in shown.replace("hash chain", "")


def test_verify_passes_then_reports_tampering_with_exit_1(path, capsys):
    code, out, _ = run(capsys, "--journal", str(path), "verify")
    assert code == 0 and out.startswith("journal ok")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE transactions SET amount = 1 WHERE id = 3")
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, "--journal", str(path), "verify", "--json")
    result = json.loads(out)
    assert code == 1 and not result["ok"] and "transactions row 3" in result["why"]


def test_the_cli_never_writes_to_the_journal(path, capsys):
    before = path.read_bytes()
    for argv in (["list"], ["show", "1"], ["purchase", "1"], ["duplicates"], ["totals"], ["verify"],
                 ["export", "--purchase", "1"]):
        assert run(capsys, "--journal", str(path), *argv)[0] == 0
    assert path.read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["show", "99"], "no transaction 99"),
    (["totals", "77"], "no batch 000077"),
    (["list", "--amount", "12.345"], "at most 2 decimals"),
    (["export"], "export needs --purchase ID"),
])
def test_bad_input_is_one_line_and_exit_2(path, capsys, argv, message):
    code, out, err = run(capsys, "--journal", str(path), *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""


def test_malformed_arguments_exit_2_without_a_traceback(path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["journal", "--journal", str(path), "list", "--trace", "12x"])
    assert caught.value.code == 2
    assert "trace must be a number" in capsys.readouterr().err


def test_a_missing_or_foreign_journal_is_reported(tmp_path, capsys):
    code, _, err = run(capsys, "--journal", str(tmp_path / "none.db"), "list")
    assert code == 2 and "no journal at" in err
    other = tmp_path / "notes.txt"
    other.write_text("not a database")
    code, _, err = run(capsys, "--journal", str(other), "verify")
    assert code == 1 and "not an SQLite database" in err and other.read_text() == "not a database"


def test_prune_removes_only_batches_past_retention_and_keeps_the_chain_valid(path, capsys):
    j = Journal.open(path, fingerprint_key=KEY, clock=lambda: 1.0e9)  # settled long ago
    j.begin_settlement(1)
    j.finish_settlement(1)
    j.close()
    code, out, _ = run(capsys, "--journal", str(path), "prune", "--retention-days", "30", "--json")
    assert code == 0 and json.loads(out)["removed_transactions"] == 4
    code, out, _ = run(capsys, "--journal", str(path), "verify")
    assert code == 0
    code, out, _ = run(capsys, "--journal", str(path), "list", "--json")
    assert json.loads(out) == []


def test_export_to_a_file_is_private_refuses_links_and_overwrites_and_names_a_missing_directory(path, capsys,
                                                                                                 tmp_path):
    import os
    import stat
    out = tmp_path / "bundle.json"
    code, text, err = run(capsys, "--journal", str(path), "export", "--purchase", "1", "-o", str(out))
    assert code == 0 and stat.S_IMODE(out.stat().st_mode) == 0o600
    code, _, err = run(capsys, "--journal", str(path), "export", "--purchase", "1", "-o", str(out))
    assert code == 2 and "already exists; add --force to replace it" in err and len(err.strip().splitlines()) == 1
    assert run(capsys, "--journal", str(path), "export", "--purchase", "1", "-o", str(out), "--force")[0] == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.json"
    os.symlink(victim, link)
    for extra in ((), ("--force",)):
        code, _, err = run(capsys, "--journal", str(path), "export", "--purchase", "1", "-o", str(link), *extra)
        assert code == 2 and "symbolic link" in err
    assert victim.read_text() == "keep me"
    code, _, err = run(capsys, "--journal", str(path), "export", "--purchase", "1", "-o", str(tmp_path / "no" / "x.json"))
    assert code == 2 and "no directory" in err and "Traceback" not in err
