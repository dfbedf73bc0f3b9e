"""The office's web pages in a real headless Chromium (Debian's `chromium`, driven by Playwright's Python API; no
browser is downloaded): a manager logs in and sees two tills' day run through `posim host`, finds the double
charge across tills, opens a purchase and its hash-chain proof and downloads its evidence; Today updates by itself
when a till ships a new sale; finance uploads a faulty statement and downloads the claim letter; every page at a
phone's width (390 px) and a desktop's, in English and Chinese, with screenshots kept in the test's tmp dir.

Without chromium or playwright the tests skip with the reason; under CI=true they fail (tests/harness.py)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from agent.journal.export import verify_bundle
from agent.office.shipper import ship_once
from simulator.host.statement_faults import StatementFault
from tests.harness import require
from tests.officeweb import DOUBLE, PASSWORDS, TILLS, card_numbers, make_shop, statement_bytes, stop_shop
from tests.pgcluster import pg_cluster  # noqa: F401

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PAGES = ["/today", "/transactions", "/reconcile", "/days"]


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    require(chromium is not None, "Debian's chromium is not installed (make setup installs it when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shop(pg_cluster, browser):  # noqa: F811 — the browser first: without it nothing is started
    shop = make_shop(pg_cluster)
    yield shop
    stop_shop(shop)


def expect(locator):
    from playwright.sync_api import expect as playwright_expect
    return playwright_expect(locator)


def session(browser, shop, role: str, viewport=DESKTOP, language: str = "en"):
    context = browser.new_context(viewport=viewport, accept_downloads=True, locale="zh-CN" if language == "zh" else
                                  "en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(shop.site + "/today")
    assert "/login" in page.url  # nothing without a login
    page.fill("input[name=name]", role)
    page.fill("input[name=password]", PASSWORDS[role])
    page.click("button[type=submit]")
    page.wait_for_url("**/today")
    if language == "zh":
        page.click("a[hreflang=zh]")
        page.wait_for_url("**/today")
    return context, page


def no_full_card_number(page) -> None:
    html = page.content().encode()
    for pan in card_numbers():
        assert pan not in html


def test_a_manager_sees_both_tills_and_the_double_charge_across_them(browser, shop, tmp_path):
    context, page = session(browser, shop, "manager")
    rows = page.locator("table.terminals tbody tr")
    assert rows.count() == 2
    assert page.locator(f"tr[data-terminal='{TILLS[0]}']").inner_text().count("yes") == 1  # till 1 settled
    open_till = page.locator(f"tr[data-terminal='{TILLS[1]}']").inner_text()
    assert "no" in open_till and "1296.65" in open_till  # 7.77 + 1200.00 + 88.88 on till 2's open batch
    duplicate = page.locator("[data-alert=duplicate]")
    assert duplicate.count() == 1
    text = duplicate.inner_text()
    assert "Charged twice across tills" in text and f"{DOUBLE // 100}.{DOUBLE % 100}" in text
    assert TILLS[0] in text and TILLS[1] in text and "posagent void" in text  # till 2's batch is open: a void
    page.screenshot(path=tmp_path / "today-desktop.png", full_page=True)
    no_full_card_number(page)
    duplicate.locator("a").nth(1).click()  # the later charge
    page.wait_for_url(f"**/transactions/{TILLS[1]}/*")
    assert page.locator("tr.subject").inner_text().count("88.88") == 1
    context.close()


def test_a_purchase_found_by_rrn_shows_its_void_its_proof_and_downloads_evidence(browser, shop, tmp_path):
    sale = shop.sales[TILLS[0]][0]  # voided on till 1
    context, page = session(browser, shop, "manager")
    page.click("nav a[href='/transactions']")
    page.fill("input[name=rrn]", sale["rrn"])
    page.click("form.search button")
    results = page.locator("table.results tbody tr")
    assert results.count() == 1
    results.first.locator("a").click()
    page.wait_for_url(f"**/transactions/{TILLS[0]}/*")
    purchase = page.locator("table.purchase").inner_text()
    assert "sale" in purchase and "void" in purchase and "voided" in purchase and sale["rrn"] in purchase
    proof = page.locator("[data-proof]")
    assert proof.get_attribute("data-proof") == "ok" and "The chain verifies" in proof.inner_text()
    assert page.locator("table.events").inner_text().count("content ok, linked") >= 4
    # the sale's and the void's masked messages, each under its transaction: the card masked, the answer 00
    sent = page.locator(f"table.message[data-txn='{sale['id']}'][data-direction='sent']").first
    assert re.fullmatch(r"[0-9]{6}\*+[0-9]{4}", sent.locator("tr[data-field='2'] code").inner_text())
    answers = page.locator("table.message[data-direction='received'] tr[data-field='39'] code")
    assert answers.count() >= 2 and {answers.nth(i).inner_text() for i in range(answers.count())} == {"00"}
    with page.expect_download() as info:
        page.click("a[href$='evidence.json']")
    path = tmp_path / "evidence.json"
    info.value.save_as(path)
    assert verify_bundle(json.loads(path.read_text())) is None
    page.screenshot(path=tmp_path / "purchase-desktop.png", full_page=True)
    no_full_card_number(page)
    page.goto(shop.site + "/transactions?last4=12x4")
    assert "expected exactly 4 digits" in page.locator(".alert").inner_text()
    context.close()


def test_today_updates_without_a_reload_when_a_till_ships_a_sale(browser, shop, tmp_path):
    context, page = session(browser, shop, "manager")
    page.evaluate("window.__same_page = true")
    cell = page.locator(f"tr[data-terminal='{TILLS[1]}'] td.num").nth(1)
    before = cell.inner_text()
    reply = shop.tills[1].call("sale", {"amount": 1000, "card": "debit", "confirm_duplicate": True})
    assert reply["outcome"]["status"] == "approved", reply
    ship_once(shop.root / TILLS[1] / "journal.db", shop.office.url, TILLS[1], shop.secrets[TILLS[1]])
    expect(page.locator(f"tr[data-terminal='{TILLS[1]}'] td.num").nth(1)).not_to_have_text(before, timeout=20_000)
    assert page.evaluate("window.__same_page === true")  # updated in place, not reloaded
    assert "1306.65" in cell.inner_text()
    page.screenshot(path=tmp_path / "today-live.png", full_page=True)
    context.close()


def test_finance_uploads_a_faulty_statement_and_downloads_the_claim(browser, shop, tmp_path):
    raw, applied = statement_bytes(shop, [StatementFault("statement_sale_missing", 1, 3)])
    assert applied
    statement = tmp_path / "merchant.csv"
    statement.write_bytes(raw)
    context, page = session(browser, shop, "finance")
    page.click("nav a[href='/reconcile']")
    page.set_input_files("input[name=statement]", str(statement))
    page.click("form.card button[type=submit]")
    page.wait_for_url(re.compile(r".*/reconcile/\d+$"))
    assert page.locator("#difference").inner_text() == page.locator("#explained").inner_text() != "0.00"
    findings = page.locator("table.findings tbody tr")
    assert findings.count() == 1 and findings.first.get_attribute("data-kind") == "not_credited"
    page.screenshot(path=tmp_path / "run-desktop.png", full_page=True)
    with page.expect_download() as info:
        page.click("a[href$='-zh.txt']")
    letter = tmp_path / "claim-zh.txt"
    info.value.save_as(letter)
    text = letter.read_text()
    assert "申请退款合计" in text and (TILLS[0] in text or TILLS[1] in text)
    for pan in card_numbers():
        assert pan.decode() not in text
    page.goto(shop.site + "/reconcile")
    page.set_input_files("input[name=statement]", {"name": "menu.txt", "mimeType": "text/plain",
                                                   "buffer": b"today's specials\n"})
    page.click("form.card button[type=submit]")
    refusal = page.locator("#refusal").inner_text()
    assert "line 1, column 1" in refusal
    assert page.locator("table.runs tbody tr").first.get_attribute("data-status") == "refused"
    context.close()


def test_a_sale_declined_after_forwarding_is_an_alert_in_both_languages_until_and_after_it_is_acknowledged(
        browser, shop, tmp_path):
    """A till whose journal (built through the journal's own API) stored two sales offline: one the bank declined
    when it was forwarded, one not forwarded yet.  (The pages at a phone's width, with this alert, follow.)"""
    from agent.journal import Journal
    from posoffice import db, store
    from tests.test_office_offline import DECLINED_CARD, KEY, forward, stored_sale
    till = "20000009"
    with db.connect(shop.dsn) as conn:
        secret = store.add_terminal(conn, till, "123456789012345")
    path = tmp_path / "journal.db"
    with Journal.open(path, fingerprint_key=KEY) as journal:
        declined = stored_sale(journal, 1200, DECLINED_CARD)
        stored_sale(journal, 2500)
        forward(journal, declined.id, "05")
    ship_once(path, shop.office.url, till, secret)
    context, page = session(browser, shop, "manager")
    alert = page.locator(f"[data-alert=declined][data-terminal='{till}']")
    expect(alert).to_have_count(1)
    text = alert.inner_text()
    assert "12.00 on card 622609******0071" in text and f"Trace {declined.trace:06d}" in text and "05" in text
    assert "Declined by the bank" in text and "not yet acknowledged" in text
    assert "1 stored offline, 25.00" in page.locator(f"tr[data-terminal='{till}']").inner_text()
    page.screenshot(path=tmp_path / "today-declined.png", full_page=True)
    page.click("a[hreflang=zh]")
    page.wait_for_url("**/today")
    chinese = page.locator(f"[data-alert=declined][data-terminal='{till}']").inner_text()
    assert "卡 622609******0071 金额 12.00" in chinese and "不予承兑" in chinese and "终端上尚未确认" in chinese
    assert "上送后被银行拒绝的脱机交易" in page.locator("section.declined h3").inner_text()
    alert.locator("a").click()  # the sale itself: its state
    page.wait_for_url(f"**/transactions/{till}/{declined.id}")
    assert "上送后被银行拒绝" in page.locator("tr.subject").inner_text()
    page.click("a[hreflang=en]")
    page.wait_for_url(f"**/transactions/{till}/{declined.id}")
    page.goto(shop.site + "/today")
    page.evaluate("window.__same_page = true")
    with Journal.open(path, fingerprint_key=KEY) as journal:  # a supervisor sees it on the terminal
        journal.acknowledge_offline_declined(operator="supervisor")
    ship_once(path, shop.office.url, till, secret)
    expect(alert).to_have_attribute("data-seen", "yes", timeout=20_000)  # Today updates by itself
    assert "acknowledged on the terminal by supervisor" in alert.inner_text()
    assert page.evaluate("window.__same_page === true")
    no_full_card_number(page)
    context.close()


def test_a_stored_sale_never_sent_to_the_bank_is_an_alert_in_both_languages_until_it_is_handled(browser, shop, tmp_path):
    """A till whose journal (built through the journal's own API) set a stored sale aside: its sealed card does not
    open, so the bank was never told.  The alert until the supervisor marks it handled on the terminal, then marked
    handled in place."""
    from agent.journal import Journal
    from posoffice import db, store
    from tests.test_office_offline import KEY, stored_sale
    till = "20000010"
    with db.connect(shop.dsn) as conn:
        secret = store.add_terminal(conn, till, "123456789012345")
    path = tmp_path / "journal.db"
    with Journal.open(path, fingerprint_key=KEY) as journal:
        unsent = stored_sale(journal, 4000)
        journal.advice_needs_manual(unsent.id, "the sealed card does not open with this terminal's key")
    ship_once(path, shop.office.url, till, secret)
    context, page = session(browser, shop, "manager")
    alert = page.locator(f"[data-alert=never_sent][data-terminal='{till}']")
    expect(alert).to_have_count(1)
    text = alert.inner_text()
    assert "40.00 on card 622609******0048" in text and f"Trace {unsent.trace:06d}" in text
    assert "the sealed card does not open with this terminal's key" in text and "not yet marked handled" in text
    assert "call the acquirer with the receipt" in text and f"posagent offline manual --handled {unsent.id}" in text
    assert alert.get_attribute("data-handled") == "no"
    assert "Stored sales never sent to the bank" in page.locator("section.never-sent h3").inner_text()
    page.screenshot(path=tmp_path / "today-never-sent.png", full_page=True)
    page.click("a[hreflang=zh]")
    page.wait_for_url("**/today")
    chinese = page.locator(f"[data-alert=never_sent][data-terminal='{till}']").inner_text()
    assert "卡 622609******0048 金额 40.00" in chinese and "终端上尚未标记为已处理" in chinese and "联系收单行补登" in chinese
    assert "从未上送银行的脱机交易" in page.locator("section.never-sent h3").inner_text()
    page.click("a[hreflang=en]")
    page.wait_for_url("**/today")
    page.evaluate("window.__same_page = true")
    with Journal.open(path, fingerprint_key=KEY) as journal:  # the supervisor marks it handled on the terminal
        journal.advice_handled(unsent.id, note="acquirer booked it by phone, ref 4711", operator="supervisor")
    ship_once(path, shop.office.url, till, secret)
    expect(alert).to_have_attribute("data-handled", "yes", timeout=20_000)  # Today updates by itself
    text = alert.inner_text()
    assert "marked handled on the terminal by supervisor" in text and "acquirer booked it by phone, ref 4711" in text
    assert "--handled" not in text
    assert page.evaluate("window.__same_page === true")
    no_full_card_number(page)
    context.close()


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_every_page_fits_a_phone_and_a_desktop_in_both_languages(browser, shop, tmp_path, width, language):
    viewport = PHONE if width == "phone" else DESKTOP
    context, page = session(browser, shop, "finance", viewport, language)
    for path in PAGES:
        page.goto(shop.site + path)
        assert page.locator("main h1").count() == 1
        if language == "zh":
            assert re.search(r"[\u4e00-\u9fff]", page.locator("main h1").inner_text()), path
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow} px wider than a {viewport['width']} px screen"
        page.screenshot(path=tmp_path / f"{path.strip('/')}-{width}-{language}.png", full_page=True)
        no_full_card_number(page)
    if path == "/days":
        assert page.locator("svg.chart").count() == 2
    context.close()
