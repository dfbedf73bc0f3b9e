"""The office's web pages under test: two tills of one merchant take a day through `posim host`, ship it to
`posoffice serve` (the collector and the pages in one process, on a throw-away PostgreSQL), and users of each
role exist.  A plain HTTP client (`Browserless`: urllib with its own cookie jar, reading the CSRF token from the
page the way a browser's form carries it) for the access tests; the browser tests drive Chromium."""

from __future__ import annotations

import dataclasses
import http.cookiejar
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from agent.auth import hash_password
from agent.office.shipper import ship_once
from posoffice import access, db, store
from simulator.stack import CAMPAIGN_PASSWORD, Host, start_terminals
from tests.pgcluster import Collector

MERCHANT = "123456789012345"
TILLS = ["20000001", "20000002"]
PASSWORDS = {"manager": "manager-pass-1", "finance": "finance-pass-1", "admin": "admin-pass-123"}
DOUBLE = 8888  # the same card, the same amount, on both tills within a minute: a double charge across tills
UPLOAD_LIMIT = 200_000


@dataclasses.dataclass
class WebShop:
    root: Path
    host: Host
    tills: list
    dsn: str
    secrets: dict[str, str]
    office: Collector
    statements: Path
    sales: dict[str, list[dict]]

    @property
    def site(self) -> str:
        return self.office.site

    def ship(self) -> None:
        for tid in TILLS:
            ship_once(self.root / tid / "journal.db", self.office.url, tid, self.secrets[tid])


def make_shop(pg_cluster) -> WebShop:
    root = Path(tempfile.mkdtemp(prefix="office-web-"))
    host = Host.start(root)
    tills, office = [], None
    try:
        tills = start_terminals(root, host.port, TILLS, merchant_id=MERCHANT, response_timeout=1.0,
                                password_hash=hash_password(CAMPAIGN_PASSWORD))
        sales = day_of_two_tills(tills)
        dsn = pg_cluster.new_database()
        secrets = {}
        with db.connect(dsn) as conn:
            db.migrate(conn)
            for tid in TILLS:
                secrets[tid] = store.add_terminal(conn, tid, MERCHANT)
            for role, password in PASSWORDS.items():
                access.add_user(conn, role, role, password)
        statements = root / "statements"
        statements.mkdir(mode=0o700)
        office = Collector(dsn, 0, "--upload-limit", str(UPLOAD_LIMIT), "--statements", str(statements))
        shop = WebShop(root, host, tills, dsn, secrets, office, statements, sales)
        shop.ship()
        return shop
    except BaseException:
        if office is not None:
            office.stop()
        for till in tills:
            till.stop()
        host.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise


def stop_shop(shop: WebShop) -> None:
    shop.office.stop()
    for till in shop.tills:
        till.stop()
    shop.host.stop()
    shutil.rmtree(shop.root, ignore_errors=True)


def day_of_two_tills(tills) -> dict[str, list[dict]]:
    """Sales on both tills (debit and credit), a void on till 1, the same card and amount charged on both tills, then
    till 1 settles; till 2's batch stays open (its double charge is fixed by a void)."""
    sales: dict[str, list[dict]] = {tid: [] for tid in TILLS}
    for tid, till, amounts in ((TILLS[0], tills[0], (1250, 30000, 4599)), (TILLS[1], tills[1], (777, 120000))):
        for n, amount in enumerate(amounts):
            reply = till.call("sale", {"amount": amount, "card": "credit" if n % 2 else "debit",
                                       "confirm_unusual": True, "confirm_duplicate": True})
            assert reply["outcome"]["status"] == "approved", reply
            sales[tid].append(reply["outcome"]["txn"])
    void = tills[0].call("void", {"trace": sales[TILLS[0]][0]["trace"]}, supervisor=True)
    assert void["outcome"]["status"] == "approved", void
    for tid, till in zip(TILLS, tills):
        reply = till.call("sale", {"amount": DOUBLE, "card": "debit", "confirm_duplicate": True})
        assert reply["outcome"]["status"] == "approved", reply
        sales[tid].append(reply["outcome"]["txn"])
    settled = tills[0].call("settle", {"confirm": True}, supervisor=True)
    assert settled["outcome"]["ok"], settled
    return sales


def statement_bytes(shop: WebShop, faults=(), fmt: str = "posim", encoding: str | None = None) -> tuple[bytes, list]:
    """The host's merchant statement of today, with `faults` applied as `posim host statement` applies them; and
    the faults applied."""
    import datetime as dt

    from agent.reconcile.fees import DEFAULT_CONTRACT
    from agent.reconcile.formats import FORMATS
    from agent.reconcile.render import render_statement
    from simulator.host.statement import build_statement, statement_line
    from simulator.host.statement_faults import apply_faults
    from simulator.testcards import load_cards

    cards, date = load_cards(), dt.date.today().strftime("%Y%m%d")
    clean, reversed_rows = build_statement(shop.host.db, date, cards, DEFAULT_CONTRACT, merchant=MERCHANT)

    def make_line(row):
        card = cards.get(row["card_name"] or "")
        return statement_line(row, date, card.card_type if card else "debit", DEFAULT_CONTRACT)

    faulty, applied = apply_faults(clean, list(faults), reversed_rows, make_line=make_line, contract=DEFAULT_CONTRACT)
    return render_statement(faulty, FORMATS[fmt], **({"encoding": encoding} if encoding else {})), applied


def card_numbers() -> list[bytes]:
    """Every test card's full number (simulator/data/cards.toml): none may appear in a page or a download."""
    from simulator.testcards import load_cards
    return [card.pan.encode() for card in load_cards().values()]


class Browserless:
    """An HTTP client with cookies, no redirects followed, that fills in forms' CSRF tokens from the page."""

    def __init__(self, site: str):
        self.site = site
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, method: str, path: str, *, data: bytes | None = None, headers: dict | None = None):
        """(status, headers, body) for one request."""
        req = urllib.request.Request(self.site + path, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as reply:
                return reply.status, reply.headers, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, fields: dict):
        return self.request("POST", path, data=urllib.parse.urlencode(fields).encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def token(self, path: str) -> str:
        status, _h, body = self.get(path)
        assert status == 200, (path, status)
        return re.search(rb'name="csrf" value="([^"]+)"', body).group(1).decode()

    def log_in(self, name: str, password: str):
        return self.post("/login", {"csrf": self.token("/login"), "name": name, "password": password, "next": "/today"})

    def upload(self, path: str, fields: dict, file_field: str, filename: str, content: bytes):
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", path, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
