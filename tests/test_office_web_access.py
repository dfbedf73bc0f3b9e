"""The office's web pages without a browser: who may see what, CSRF, the login lockout, sessions that end, the
security headers, a byte scan of every page and download for the test cards' numbers, and statement uploads that
are refused with their line and column — only the refused run kept.  Two tills' day through `posim host`,
shipped to `posoffice serve` on a throw-away PostgreSQL (`tests/officeweb.py`), once per module."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from agent.journal.export import verify_bundle
from agent.office.link import OfficeClient, ShipError, office_endpoint
from agent.office.shipper import MESSAGES_SUFFIX, cursor_path, ship_once
from posoffice import access
from simulator.host.statement_faults import StatementFault
from tests.officeweb import (PASSWORDS, TILLS, UPLOAD_LIMIT, Browserless, make_shop, statement_bytes, stop_shop,
                             card_numbers)
from tests.pgcluster import pg_cluster  # noqa: F401

READ_PAGES = ["/today", "/api/today", "/transactions", f"/transactions?terminal={TILLS[0]}", "/days", "/reconcile"]


@pytest.fixture(scope="module")
def shop(pg_cluster):  # noqa: F811
    shop = make_shop(pg_cluster)
    yield shop
    stop_shop(shop)


def logged_in(shop, role: str) -> Browserless:
    client = Browserless(shop.site)
    status, headers, _ = client.log_in(role, PASSWORDS[role])
    assert status == 303 and headers["Location"] == "/today", status
    return client


def runs(shop) -> list[tuple]:
    with psycopg.connect(shop.dsn) as conn:
        return conn.execute("SELECT id, status, error FROM reconciliations ORDER BY id").fetchall()


def documents(shop) -> int:
    with psycopg.connect(shop.dsn) as conn:
        return conn.execute("SELECT count(*) FROM claim_documents").fetchone()[0]


@pytest.fixture(scope="module")
def claim_run(shop) -> tuple[int, list[str]]:
    """A faulty statement (a sale left out of the credit) reconciled by finance: the run and its documents."""
    client = logged_in(shop, "finance")
    raw, applied = statement_bytes(shop, [StatementFault("statement_sale_missing", 1, 3)])
    assert applied
    status, headers, _ = client.upload("/reconcile", {"csrf": client.token("/reconcile"), "format": "posim"},
                                       "statement", "faulty.csv", raw)
    assert status == 303, status
    run_id = int(headers["Location"].rsplit("/", 1)[1])
    _s, _h, page = client.get(f"/reconcile/{run_id}")
    names = re.findall(rb'href="/reconcile/%d/([^"]+)"' % run_id, page)
    assert len(names) == 5, page  # letters zh, en, both, the JSON evidence and the statement as given
    return run_id, [n.decode() for n in names]


def every_path(shop, claim_run) -> list[str]:
    run_id, names = claim_run
    return [*READ_PAGES, f"/transactions/{TILLS[0]}/1", f"/transactions/{TILLS[0]}/1/evidence.json",
            f"/reconcile/{run_id}", *(f"/reconcile/{run_id}/{n}" for n in names), "/admin"]


# ----------------------------------------------------------------------------- nothing without a login
def test_every_page_and_download_is_refused_without_a_login(shop, claim_run):
    anonymous = Browserless(shop.site)
    for path in every_path(shop, claim_run):
        status, headers, body = anonymous.get(path)
        if path.endswith(".json") or path.startswith("/api/"):
            assert status == 401 and b"log in" in body, path
        else:
            assert status == 303 and headers["Location"].startswith("/login?next="), path
        assert b"20000001" not in body and b"88.88" not in body, path
    assert anonymous.get("/login")[0] == 200 and anonymous.get("/static/office.css")[0] == 200


def test_each_role_is_refused_what_it_may_not_see(shop, claim_run):
    run_id, names = claim_run
    admin, manager, finance = (logged_in(shop, r) for r in ("admin", "manager", "finance"))
    for path in every_path(shop, claim_run):
        if path == "/admin":
            continue
        status, _h, body = admin.get(path)
        assert status == 403 and b"admin" in body and b"<table" not in body and b"88.88" not in body, path
    for client in (manager, finance):
        assert client.get("/admin")[0] == 403
    for name in names:  # the claim is finance's
        assert manager.get(f"/reconcile/{run_id}/{name}")[0] == 403
        assert finance.get(f"/reconcile/{run_id}/{name}")[0] == 200
    before = runs(shop)
    raw, _ = statement_bytes(shop)
    status, _h, _b = manager.upload("/reconcile", {"csrf": manager.token("/reconcile")}, "statement", "s.csv", raw)
    assert status == 403 and runs(shop) == before
    for path in READ_PAGES:
        assert manager.get(path)[0] == 200 and finance.get(path)[0] == 200, path
    assert admin.get("/admin")[0] == 200


# ----------------------------------------------------------------------------- CSRF
def test_a_post_without_the_session_s_csrf_token_is_refused(shop):
    finance, admin = logged_in(shop, "finance"), logged_in(shop, "admin")
    before, raw = runs(shop), statement_bytes(shop)[0]
    for fields in ({}, {"csrf": "forged"}, {"csrf": admin.token("/admin")}):  # another session's token too
        status, _h, body = finance.upload("/reconcile", {"format": "posim", **fields}, "statement", "s.csv", raw)
        assert status == 403 and b"token" in body
    assert runs(shop) == before
    status, _h, _b = admin.post("/admin/users", {"name": "mallory", "role": "admin", "password": "x" * 12})
    assert status == 403
    assert "mallory" not in [u["name"] for u in _users(shop)]
    status, _h, _b = admin.post("/admin/users", {"csrf": admin.token("/admin"), "name": "clerk2", "role": "manager",
                                                 "password": "clerk2-pass-1"})
    assert status == 303 and "clerk2" in [u["name"] for u in _users(shop)]
    fresh = Browserless(shop.site)  # a login posted without the login page's cookie token
    assert fresh.post("/login", {"name": "manager", "password": PASSWORDS["manager"]})[0] == 403
    assert finance.post("/logout", {})[0] == 403 and finance.get("/today")[0] == 200
    assert finance.post("/logout", {"csrf": finance.token("/today")})[0] == 303
    assert finance.get("/today")[0] == 303  # the session is gone


def _users(shop) -> list[dict]:
    with psycopg.connect(shop.dsn) as conn:
        return access.users(conn)


# ----------------------------------------------------------------------------- lockout and expiry
def test_the_login_lockout_holds_after_five_wrong_passwords_even_with_the_right_one(shop):
    with psycopg.connect(shop.dsn) as conn:
        access.add_user(conn, "locky", "manager", "locky-pass-1")
    client = Browserless(shop.site)
    for n in range(access.MAX_FAILURES):
        status, _h, body = client.log_in("locky", f"wrong-{n}")
        assert status == 401
    assert b"locked" in body
    status, _h, body = client.log_in("locky", "locky-pass-1")
    assert status == 401 and b"locked" in body and client.get("/today")[0] == 303
    status, _h, body = client.log_in("nobody", "whatever-123")  # an unknown name says nothing about names
    assert status == 401 and b"wrong user name or password" in body
    with psycopg.connect(shop.dsn) as conn:
        access.unlock(conn, "locky")
    assert client.log_in("locky", "locky-pass-1")[0] == 303 and client.get("/today")[0] == 200


def test_an_idle_session_ends_and_the_cookie_is_httponly_and_strict(shop):
    client = Browserless(shop.site)
    status, headers, _ = client.log_in("manager", PASSWORDS["manager"])
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get("/today")[0] == 200
    with psycopg.connect(shop.dsn) as conn:
        conn.execute("UPDATE sessions SET seen_at = %s WHERE user_name = 'manager'",
                     (datetime.now(timezone.utc) - timedelta(minutes=access.IDLE_MINUTES + 1),))
    assert client.get("/today")[0] == 303


def test_every_answer_carries_the_security_headers_and_pages_are_not_cached(shop, claim_run):
    client = logged_in(shop, "finance")
    for path in [*every_path(shop, claim_run)[:-1], "/login"]:
        _s, headers, _b = client.get(path)
        assert "script-src 'self'" in headers["Content-Security-Policy"] and "frame-ancestors 'none'" in \
            headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-store", path


# ----------------------------------------------------------------------------- no full card number anywhere
def test_a_byte_scan_of_every_page_and_download_finds_no_full_card_number(shop, claim_run):
    pans = card_numbers()
    seen, scanned = set(), 0
    for role in ("manager", "finance"):
        client = logged_in(shop, role)
        queue = [*every_path(shop, claim_run)[:-1], *(f"/transactions?last4={p[-4:].decode()}" for p in pans[:2]),
                 f"/transactions?terminal={TILLS[1]}"]
        while queue:
            path = queue.pop()
            if (role, path) in seen or len(seen) > 400:
                continue
            seen.add((role, path))
            status, _h, body = client.get(path)
            if status != 200:
                continue
            scanned += 1
            for pan in pans:
                assert pan not in body, (path, pan)
            # a card-like run of digits on its own — not one inside a hash's hex, where 16 digits in a row
            # starting 62 turn up by chance
            assert not re.search(rb"(?<![0-9A-Fa-f])62[0-9]{14,17}(?![0-9A-Fa-f])", body), path
            queue += [link.decode() for link in re.findall(rb'href="(/(?:transactions|reconcile)[^"#]*)"', body)]
    assert scanned > 20


def test_the_evidence_download_is_the_terminal_s_bundle_and_verifies(shop):
    client = logged_in(shop, "manager")
    status, headers, body = client.get(f"/transactions/{TILLS[0]}/1/evidence.json")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    bundle = json.loads(body)
    assert verify_bundle(bundle) is None and {t["kind"] for t in bundle["transactions"]} == {"sale", "void"}
    bundle["events"][0]["details"]["amount"] += 1  # one fen changed: the proof no longer holds
    assert "does not match" in verify_bundle(bundle)


# ----------------------------------------------------------------------------- the masked messages
def _message_tables(page: bytes) -> list[tuple[str, dict[str, str]]]:
    """(direction, {field: value}) of each message table on a Transaction page."""
    tables = []
    for direction, body in re.findall(rb'<table class="message"[^>]*data-direction="(\w+)"[^>]*>(.*?)</table>', page,
                                      re.S):
        fields = dict(re.findall(rb'<tr data-field="(\d+)"><td>\d+</td><td><code>([^<]*)</code>', body))
        tables.append((direction.decode(), {k.decode(): v.decode() for k, v in fields.items()}))
    return tables


def test_the_transaction_page_shows_each_message_s_fields_masked_and_the_evidence_carries_them(shop):
    client = logged_in(shop, "manager")
    sale = shop.sales[TILLS[0]][1]  # the credit sale on till 1, approved
    status, _h, page = client.get(f"/transactions/{TILLS[0]}/{sale['id']}")
    assert status == 200
    tables = _message_tables(page)
    assert [d for d, _f in tables][:2] == ["sent", "received"], tables
    sent, received = tables[0][1], tables[1][1]
    assert re.fullmatch(r"[0-9]{6}\*+[0-9]{4}", sent["2"]), sent  # the PAN masked first 6 / last 4
    assert sent["4"] == f"{sale['amount']:012d}" and sent["11"] == f"{sale['trace']:06d}"
    # track 2 and the PIN block are never stored, so never shipped: the journal keeps only the field's number
    assert sent.get("35", "[removed]") == "[removed]" and sent.get("52", "[removed]") == "[removed]", sent
    assert received["39"] == "00" and received["37"].strip() == sale["rrn"], received
    for pan in card_numbers():
        assert pan not in page
    status, _h, body = client.get(f"/transactions/{TILLS[0]}/{sale['id']}/evidence.json")
    bundle = json.loads(body)
    assert verify_bundle(bundle) is None  # the messages beside the events leave the proof as it was
    assert [(m["txn_id"], m["direction"]) for m in bundle["messages"]] == [(sale["id"], "sent"), (sale["id"], "received")]
    assert re.fullmatch(r"[0-9]{6}\*+[0-9]{4}", bundle["messages"][0]["body"]["fields"]["2"])


def test_a_message_shipped_twice_is_stored_once_and_the_collector_masks_what_the_terminal_did_not(shop):
    def stored() -> list[tuple]:
        with psycopg.connect(shop.dsn) as conn:
            return conn.execute("SELECT terminal, txn_id, direction, message_id, body FROM messages "
                                "ORDER BY 1, 2, 3, 4").fetchall()

    before = stored()
    assert {r[0] for r in before} == set(TILLS) and len(before) >= 2 * sum(len(v) for v in shop.sales.values())
    for tid in TILLS:  # the messages' progress lost: every message is sent again
        cursor_path(shop.root / tid / "journal.db", MESSAGES_SUFFIX).unlink()
    results = [ship_once(shop.root / tid / "journal.db", shop.office.url, tid, shop.secrets[tid]) for tid in TILLS]
    assert all(r.messages > 0 for r in results), results
    assert stored() == before
    # a terminal that sent a full card number (a bug upstream) would not have it kept: the collector scrubs again
    office = OfficeClient(shop.office.url, TILLS[1], shop.secrets[TILLS[1]], 5.0)
    pan = card_numbers()[0].decode()
    message = {"txn_id": 999_999, "message_id": 0, "direction": "sent", "at": 1.0, "reversal_id": None,
               "body": {"mti": "0200", "fields": {"2": pan, "35": pan + "=2512", "39": "00"}}}
    url = office_endpoint(shop.office.url, "messages")
    assert office.post({"terminal": TILLS[1], "messages": [message]}, url) == (200, {"stored": 1, "repeated": 0})
    assert office.post({"terminal": TILLS[1], "messages": [message]}, url) == (200, {"stored": 0, "repeated": 1})
    with pytest.raises(ShipError, match="wrong_terminal"):  # only its own messages
        office.post({"terminal": TILLS[0], "messages": [message]}, url)
    with psycopg.connect(shop.dsn) as conn:
        kept = conn.execute("SELECT body::text FROM messages WHERE terminal = %s AND txn_id = 999999",
                            (TILLS[1],)).fetchone()[0]
        conn.execute("DELETE FROM messages WHERE txn_id = 999999")
    assert pan not in kept and json.loads(kept)["fields"]["35"] == "[removed]" and pan[-4:] in kept


def test_an_office_that_does_not_take_messages_leaves_the_events_shipping_and_they_follow_later(shop, monkeypatch):
    import agent.office.shipper as shipper
    tid = TILLS[1]
    journal = shop.root / tid / "journal.db"
    progress = cursor_path(journal, MESSAGES_SUFFIX)

    def count() -> int:
        with psycopg.connect(shop.dsn) as conn:
            return conn.execute("SELECT count(*) FROM messages WHERE terminal = %s", (tid,)).fetchone()[0]

    held = count()
    with psycopg.connect(shop.dsn) as conn:  # an office that lost them, and a terminal that lost its progress
        conn.execute("DELETE FROM messages WHERE terminal = %s", (tid,))
    progress.unlink()
    monkeypatch.setattr(shipper, "office_endpoint", lambda url, name: url.replace("/v1/events", "/v1/older"))
    result = ship_once(journal, shop.office.url, tid, shop.secrets[tid])  # an older collector: 404 for messages
    assert result.acked == result.head and result.messages == 0 and count() == 0
    assert not progress.exists()  # nothing acknowledged: the messages' progress did not move
    monkeypatch.undo()
    assert ship_once(journal, shop.office.url, tid, shop.secrets[tid]).messages == held == count() > 0


# ----------------------------------------------------------------------------- the Chinese pages
def _cells(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode())).strip()


def test_a_run_s_findings_their_details_and_its_documents_are_in_chinese_on_the_chinese_page(shop, claim_run):
    run_id, names = claim_run
    client = logged_in(shop, "finance")
    status, _h, _b = client.get(f"/lang/zh?next=/reconcile/{run_id}")
    assert status in (302, 303), status
    _s, _h, page = client.get(f"/reconcile/{run_id}")
    rows = re.findall(rb'<tr data-kind="not_credited">(.*?)</tr>', page, re.S)
    assert len(rows) == 1, page
    details = _cells(re.search(rb'<td class="details">(.*?)</td>', rows[0], re.S)[1])
    # the claim letter's own Chinese (agent.reconcile.claim): what happened and its amounts
    assert details.startswith("消费未入账") and "应入账" in details, details
    assert not re.search(r"[A-Za-z]{2,}", _cells(rows[0])), rows[0]
    links = re.findall(rb'<a href="/reconcile/%d/[^"]+"[^>]*>([^<]*)</a>' % run_id, page)
    assert len(links) == len(names) == 5
    labels = [label.decode() for label in links]
    assert all(re.search(r"[\u4e00-\u9fff]", label) and not re.search(r"[A-Za-z]{2,}", label.replace("JSON", ""))
               for label in labels), labels
    assert "结算差错退款申请（中文）" in labels
    # the English page words the same finding in the letter's English
    client.get(f"/lang/en?next=/reconcile/{run_id}")
    _s, _h, page = client.get(f"/reconcile/{run_id}")
    row = re.search(rb'<tr data-kind="not_credited">(.*?)</tr>', page, re.S)[1]
    assert "sale not credited: by the journal and contract: sale amount" in _cells(row), row
    assert b"Settlement Claim (Chinese)" in page


# ----------------------------------------------------------------------------- bad statements
@pytest.mark.parametrize("case", ["not_a_statement", "wrong_encoding", "too_large", "far_too_large"])
def test_a_bad_upload_names_line_and_column_and_only_the_refused_run_is_kept(shop, case):
    client = logged_in(shop, "finance")
    gbk = statement_bytes(shop, fmt="posim", encoding="gbk")[0]  # a GBK file said to be UTF-8 (the CSV's default)
    content, fields = {
        "not_a_statement": (b"Dear shop,\nplease find our price list attached.\n", {"format": "posim"}),
        "wrong_encoding": (gbk, {"format": "posim", "encoding": "utf-8"}),
        "too_large": (b"x" * (UPLOAD_LIMIT + 10), {"format": "posim"}),
        "far_too_large": (b"x" * (2 * UPLOAD_LIMIT + 70_000), {"format": "posim"}),
    }[case]
    before, docs = runs(shop), documents(shop)
    status, _h, body = client.upload("/reconcile", {"csrf": client.token("/reconcile"), **fields}, "statement",
                                     "bad.txt", content)
    text = body.decode()
    refusal = re.search(r'<p class="alert" role="alert" id="refusal">([^<]*)</p>', text).group(1)
    assert "\n" not in refusal and "Traceback" not in text
    after = runs(shop)
    if case == "far_too_large":  # refused unread: its token cannot be checked, so nothing is kept
        assert status == 413 and after == before and str(UPLOAD_LIMIT) in refusal
        return
    assert status == 400 and len(after) == len(before) + 1 and after[:-1] == before
    assert after[-1][1] == "refused" and documents(shop) == docs
    if case == "too_large":
        assert f"over {UPLOAD_LIMIT} bytes" in refusal
    else:
        assert re.search(r"line \d+, column ", refusal), refusal
    if case == "wrong_encoding":
        assert "utf-8" in refusal and "another encoding" in refusal


# ----------------------------------------------------------------------------- alerts from shipped events
def chained(events: list[tuple], start: int = 1, previous: str | None = None) -> list[dict]:
    """Wire events (kind, txn_id, details) from `start`, hashed and linked as the journal does."""
    from agent.journal.hashchain import GENESIS, canonical, content_hash, link
    previous, out = previous or GENESIS, []
    for seq, (kind, txn_id, details) in enumerate(events, start):
        at, text = 1_900_000_000.0 + seq, canonical(details)
        chash = content_hash(seq, at, txn_id, kind, "01", "supervisor", text)
        previous = link(previous, chash)
        out.append({"seq": seq, "at": at, "txn_id": txn_id, "kind": kind, "operator": "01", "role": "supervisor",
                    "details": text, "content_hash": chash, "hash": previous})
    return out


def test_an_open_fix_and_a_reversal_left_to_a_person_are_alerts_until_their_events_end_them(shop):
    from posoffice import store
    from tests.pgcluster import post
    with psycopg.connect(shop.dsn) as conn:
        secret = store.add_terminal(conn, "30000009", "OTHER-MERCHANT")
    sale = {"kind": "sale", "amount": 12000, "trace": 41, "batch": 1, "card": "622609******0048"}
    events = chained([("txn.begin", 1, sale), ("txn.complete", 1, {"state": "approved", "rrn": "000000000041"}),
                      # planned before the terminal's upgrade (the rename): `chain.plan`, its id under "chain"
                      ("chain.plan", 1, {"chain": 1, "kind": "correction", "steps": [
                          {"op": "void", "amount": 12000, "status": "done"},
                          {"op": "sale", "amount": 10000, "status": "owed"}]}),
                      ("txn.begin", 2, {**sale, "amount": 500, "trace": 42}),
                      ("txn.fail", 2, {"reason": "98"}),
                      ("reversal.failed", 2, {"reversal": 3, "tries": 3, "state": "needs_manual",
                                              "error": "no answer"})])
    assert post(shop.office.url, "30000009", secret, {"terminal": "30000009", "head": 6, "events": events})[0] == 200
    manager = logged_in(shop, "manager")
    page = manager.get("/today")[2].decode()
    fix = re.search(r'data-alert="fix">(.*?)</div>\s*</div>', page, re.S).group(1)
    assert "30000009" in fix and "posagent correct 000041 --resume" in fix and "done, owed" in fix
    reversal = re.search(r'data-alert="reversal">(.*?)</div>\s*</div>', page, re.S).group(1)
    assert "reversal 3 needs manual handling (3 tries)" in reversal and "posagent reversals --handled 3" in reversal
    more = chained([("fix.done", 1, {"fix": 1, "reason": None}),  # ended after it
                    ("reversal.handled", 2, {"reversal": 3, "note": "the bank confirmed it by phone"})],
                   start=7, previous=events[-1]["hash"])
    assert post(shop.office.url, "30000009", secret, {"terminal": "30000009", "head": 8, "events": more})[0] == 200
    page = manager.get("/today")[2].decode()
    assert 'data-alert="fix"' not in page and 'data-alert="reversal"' not in page


def test_the_alerts_query_reads_the_partial_index_of_migration_0011_with_both_spellings_of_a_fix(shop):
    from posoffice import lookups
    with psycopg.connect(shop.dsn) as conn:
        [definition] = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'events_alerts'").fetchone()
        assert all(f"'{kind}'" in definition for kind in ("fix.plan", "chain.plan", "fix.closed", "chain.closed"))
        conn.execute("SET enable_seqscan = off")
        for terminal in (None, "30000009"):
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + lookups.ALERT_EVENTS_SQL, {"t": terminal}))
            assert "events_alerts" in plan, plan


def test_a_statement_picked_from_the_statements_directory_is_reconciled_and_a_missing_one_named(shop):
    client = logged_in(shop, "finance")
    raw, _ = statement_bytes(shop, fmt="unionpay-gbk")
    (shop.statements / "bank-today.txt").write_bytes(raw)
    page = client.get("/reconcile")[2]
    assert b"<option>bank-today.txt</option>" in page
    before = runs(shop)
    status, headers, _ = client.upload("/reconcile", {"csrf": client.token("/reconcile"), "format": "unionpay-gbk",
                                                      "pick": "bank-today.txt"}, "statement", "", b"")
    assert status == 303, status
    run = runs(shop)[-1]
    assert len(runs(shop)) == len(before) + 1 and run[1] in ("balanced", "differs")
    _s, _h, report = client.get(headers["Location"])
    assert b"bank-today.txt" in report and TILLS[0].encode() in report
    status, _h, body = client.upload("/reconcile", {"csrf": client.token("/reconcile"), "pick": "../etc/passwd"},
                                     "statement", "", b"")
    assert status == 400 and b"no statement &#39;passwd&#39;" in body and len(runs(shop)) == len(before) + 1
