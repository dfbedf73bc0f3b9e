"""Every word the web pages show, in English and Chinese: key → (English, Chinese), the one shape of the
terminal's catalogues (`agent.catalogue`).  `say(language, key, **values)` fills one in."""

from __future__ import annotations

from functools import partial
from typing import Any

from agent import catalogue

TEXTS: catalogue.Texts = {
    "office": ("Back office", "商户后台"),
    "nav_today": ("Today", "今日"), "nav_transactions": ("Transactions", "交易查询"),
    "nav_reconcile": ("Reconcile", "对账"), "nav_days": ("Days", "结算日"), "nav_admin": ("Admin", "管理"),
    "login": ("Log in", "登录"), "logout": ("Log out", "退出"), "user": ("User", "用户"), "password": ("Password", "密码"),
    "login_wrong": ("wrong user name or password", "用户名或密码错误"),
    "login_locked": ("user {name} is locked after {n} wrong passwords until {until}; an admin or the time unlocks it",
                     "用户 {name} 因 {n} 次密码错误已锁定至 {until}；由管理员解锁或到时自动解锁"),
    "login_now_locked": ("wrong password; user {name} is now locked for {minutes} minutes",
                         "密码错误；用户 {name} 现已锁定 {minutes} 分钟"),
    "role": ("Role", "角色"), "role_manager": ("manager", "店长"), "role_finance": ("finance", "财务"),
    "role_admin": ("admin", "管理员"),
    "forbidden": ("Your role ({role}) may not open this page.", "您的角色（{role}）无权打开此页面。"),
    "csrf": ("The form was refused: it did not carry this session's token (reload the page and try again).",
             "表单被拒绝：缺少本次会话的令牌（请刷新页面后重试）。"),
    "live": ("updates by itself", "自动更新"),
    "alerts": ("Needs attention", "待处理"), "no_alerts": ("Nothing needs attention.", "没有待处理事项。"),
    "fix": ("Fix", "处理"),
    "chain_failed": ("Terminal {terminal}: its journal's chain failed to verify", "终端 {terminal}：流水哈希链校验失败"),
    "chain_failed_at": ("at event {seq}: {what}", "位置：事件 {seq}：{what}"),
    "chain_failed_fix": ("the office refuses its events from there on; check the terminal's journal "
                         "(`posagent journal verify`) before anything else",
                         "后台从该事件起拒收；请先在终端上检查流水（`posagent journal verify`）"),
    "fix_open": ("Terminal {terminal}: a {kind} left open", "终端 {terminal}：{kind}未完成"),
    "fix_correction": ("correction", "金额更正"), "fix_duplicate_fix": ("duplicate fix", "重复扣款处理"),
    "fix_completion_fix": ("completion fix", "预授权完成更正"),
    "or_keypad": ("— or on the keypad:", "— 或在键盘上："),
    "keypad_correction": ("Correct amount, the same trace", "更正金额，同一凭证号"),
    "keypad_duplicate_fix": ("Duplicates, then the charge", "重复扣款，选择该笔交易"),
    "keypad_completion_fix": ("Pre-auth → Complete, the same trace", "预授权 → 预授权完成，同一凭证号"),
    "steps": ("steps", "步骤"), "since": ("since", "开始于"),
    "reversal_manual": ("Terminal {terminal}: reversal {id} needs manual handling ({tries} tries)",
                        "终端 {terminal}：冲正 {id} 需人工处理（已尝试 {tries} 次）"),
    "reversal_fix": ("settle it with the acquirer by phone, then on the terminal:",
                     "先电话联系收单行确认，再在终端上执行："),
    "duplicate_across": ("Charged twice across tills: {amount} on card {card}", "跨收银台重复扣款：卡 {card} 金额 {amount}"),
    "duplicate_within": ("Charged twice on one till: {amount} on card {card}", "同一收银台重复扣款：卡 {card} 金额 {amount}"),
    "then": ("then", "之后"), "seconds_later": ("{s} s later", "相隔 {s} 秒"),
    "on_terminal": ("on terminal {terminal}", "在终端 {terminal} 上"),
    "void_why": ("its batch is still open", "其批次尚未结算"),
    "refund_why": ("its batch is settled", "其批次已结算"),
    "switched_offline": ("Terminal {terminal} switched offline by the supervisor ({who})",
                         "终端 {terminal} 已被主管（{who}）切换为脱机"),
    "switched_note": ("its sales are stored within the offline limits and nothing goes to the bank until it is "
                      "switched back", "其交易在脱机限额内存储，切回联机前不向银行发送任何交易"),
    "keypad_back_online": ("Manage (9) → Back online, with the supervisor password",
                           "管理（9）→ 恢复联机，需主管密码"),
    "declined_title": ("Sales declined after forwarding", "上送后被银行拒绝的脱机交易"),
    "declined_note": ("The card approved each of these offline while the bank could not be reached; the bank refused it "
                      "when the terminal forwarded it: the money was not collected and the merchant bears it.",
                      "以下交易在无法连接银行时由卡片脱机批准并存储，终端上送时被银行拒绝：款项未收到，损失由商户承担。"),
    "stored_sale": ("Terminal {terminal}: {amount} on card {card}", "终端 {terminal}：卡 {card} 金额 {amount}"),
    "sold_at": ("sold", "交易时间"), "bank_answer": ("the bank's answer", "银行应答"),
    "acknowledged_by": ("acknowledged on the terminal by {who} at {when}", "已由 {who} 于 {when} 在终端上确认"),
    "not_acknowledged": ("not yet acknowledged on the terminal", "终端上尚未确认"),
    "declined_fix": ("contact the customer for another payment; then a supervisor acknowledges it on the terminal:",
                     "联系顾客改用其他方式付款；然后由主管在终端上确认："),
    "keypad_declined": ("ENTER on the idle screen, the supervisor's password", "待机界面按确认键，输入主管密码"),
    "declined_seen_fix": ("contact the customer for another payment (acknowledged on the terminal: it leaves this list "
                          "a day after that; `posoffice declined` keeps listing it)",
                          "联系顾客改用其他方式付款（终端已确认：确认一天后不再在此列出；`posoffice declined` 仍会列出）"),
    "never_sent_title": ("Stored sales never sent to the bank", "从未上送银行的脱机交易"),
    "never_sent_note": ("The card approved each of these offline and the terminal stored it, but its sealed card does "
                        "not open, so the bank was never told of it: the money will not be collected unless the store "
                        "acts.", "以下交易由卡片脱机批准并存储，但加密保存的卡号无法解开，终端从未上送银行：除非门店处理，"
                                 "款项不会到账。"),
    "set_aside": ("set aside", "搁置时间"), "reason": ("the terminal's reason", "终端记录的原因"),
    "handled_by": ("marked handled on the terminal by {who} at {when}", "已由 {who} 于 {when} 在终端上标记为已处理"),
    "not_handled": ("not yet marked handled on the terminal", "终端上尚未标记为已处理"),
    "never_sent_fix": ("call the acquirer with the receipt (trace, amount, card) to have it booked, or ask the "
                       "customer for another payment; then a supervisor marks it handled on the terminal:",
                       "持签购单（凭证号、金额、卡号）联系收单行补登，或请顾客改用其他方式付款；然后由主管在终端上标记为已处理："),
    "or_console": ("— or on the console:", "— 或在维护控制台上："),
    "never_sent_handled_fix": ("handled on the terminal: it leaves this list a day after that; `posoffice manual` "
                               "keeps listing it", "终端已处理：一天后不再在此列出；`posoffice manual` 仍会列出"),
    "stored_count": ("{n} stored offline, {amount}", "脱机已存 {n} 笔，{amount}"),
    "state_stored_offline": ("stored offline, not forwarded yet", "脱机存储，尚未上送"),
    "state_forwarded": ("stored offline, forwarded, no answer yet", "脱机存储，已上送，待银行应答"),
    "state_declined_after_forwarding": ("declined after forwarding", "上送后被银行拒绝"),
    "state_approved_after_forwarding": ("approved after forwarding", "上送后银行批准"),
    "state_advice_needs_manual": ("never sent to the bank: needs manual handling", "从未上送银行：需人工处理"),
    "state_resolved_manually": ("resolved by hand", "已人工处理"),
    "terminals": ("Terminals", "终端"), "terminal": ("Terminal", "终端号"), "merchant": ("Merchant", "商户号"),
    "last_contact": ("Last contact", "最近联系"), "backlog": ("Not yet shipped", "未上送事件"),
    "chain": ("Hash chain", "哈希链"), "open_batch": ("Open batch", "当前批次"),
    "pt_card": ("Card", "银行卡"), "pt_code": ("Payment code", "扫码"),
    "count_net": ("Open batch per payment type: count / net.", "当前批次按支付方式：笔数/净额。"),
    "settled": ("Settled", "已结算"), "last_settled": ("last", "上次"),
    "never": ("never", "从未"), "unknown": ("unknown", "未知"), "ok": ("ok", "正常"), "problem": ("problem", "异常"),
    "yes": ("yes", "是"), "no": ("no", "否"),
    "terminals_shown": ("Terminals {first}-{last} of {of}.", "终端 {first}-{last}，共 {of} 台。"),
    "previous": ("previous", "上一页"), "next": ("next", "下一页"),
    "no_terminals": ("No terminal is registered yet (posoffice terminal add).", "尚未登记终端（posoffice terminal add）。"),
    "trace": ("Trace", "凭证号"), "batch": ("Batch", "批次号"), "amount": ("Amount", "金额"), "date": ("Date", "日期"),
    "last4": ("Card last 4", "卡号后四位"), "search": ("Search", "查询"), "time": ("Time", "时间"), "kind": ("Type", "类型"),
    "card": ("Card", "卡号"), "state": ("State", "状态"), "auth": ("Auth code", "授权码"),
    "found": ("{n} transaction(s) found.", "找到 {n} 笔交易。"),
    "found_limit": ("Only the newest {n} are listed: narrow the search.", "仅列出最新 {n} 笔，请缩小查询范围。"),
    "no_answer": ("no answer yet", "尚无应答"),
    "kind_sale": ("sale", "消费"), "kind_void": ("void", "消费撤销"), "kind_refund": ("refund", "退货"),
    "kind_correction": ("correction", "更正"), "kind_completion": ("pre-auth completion", "预授权完成"),
    "kind_completion_void": ("completion void", "预授权完成撤销"),
    "bad_rrn": ("RRN {value!r}: expected 1-12 letters or digits", "参考号 {value!r}：应为 1-12 位字母或数字"),
    "bad_trace": ("Trace {value!r}: expected up to 6 digits", "凭证号 {value!r}：应为最多 6 位数字"),
    "bad_terminal": ("Terminal {value!r}: expected a terminal id (letters, digits, '.', '_', '-')",
                     "终端号 {value!r}：应为终端编号（字母、数字、'.'、'_'、'-'）"),
    "bad_last4": ("Card last 4 {value!r}: expected exactly 4 digits", "卡号后四位 {value!r}：应为 4 位数字"),
    "bad_amount": ("Amount {value!r}: expected an amount like 88.88", "金额 {value!r}：应为如 88.88 的金额"),
    "bad_date": ("Date {value!r}: expected YYYY-MM-DD", "日期 {value!r}：应为 YYYY-MM-DD"),
    "purchase": ("Purchase", "交易详情"), "evidence": ("Download the evidence (JSON)", "下载证据（JSON）"),
    "events_of": ("Terminal {terminal}: its events and the hash-chain proof", "终端 {terminal}：事件与哈希链证明"),
    "proof_ok": ("The chain verifies: {n} links from the first of these events to event {head}, the last the office "
                 "holds.", "哈希链校验通过：从首个事件到后台最新事件 {head}，共 {n} 个链接。"),
    "proof_broken": ("The chain does NOT verify: {why}", "哈希链校验失败：{why}"),
    "event": ("Event", "事件"), "who": ("By", "操作员"), "details": ("Details", "详情"), "hash": ("Hash", "哈希"),
    "check": ("Check", "校验"), "content_ok": ("content ok", "内容一致"), "content_bad": ("CONTENT CHANGED", "内容被改"),
    "link_ok": ("linked", "链接正确"), "link_bad": ("LINK BROKEN", "链接断开"),
    "messages": ("Messages (ISO 8583, masked)", "报文（ISO 8583，已脱敏）"),
    "messages_of": ("{kind} · trace {trace} · terminal {terminal}", "{kind} · 凭证号 {trace} · 终端 {terminal}"),
    "direction_sent": ("sent", "发出"), "direction_received": ("received", "收到"),
    "field": ("Field", "域"), "value": ("Value", "值"),
    "no_messages": ("The terminal has not shipped this transaction's messages (yet).",
                    "终端尚未上送此笔交易的报文。"),
    "no_txn": ("No transaction {id} of terminal {terminal} in the office.", "后台没有终端 {terminal} 的交易 {id}。"),
    "upload": ("The bank's statement", "银行对账单"), "or_pick": ("or one from the statements directory",
                                                                "或从对账单目录选择"),
    "format": ("Format", "格式"), "encoding": ("Encoding", "编码"), "format_default": ("the format's", "格式默认"),
    "run_reconcile": ("Reconcile", "开始对账"),
    "finance_only": ("Only the finance role runs reconciliations.", "只有财务角色可以对账。"),
    "runs": ("Every run", "对账记录"), "statement": ("Statement", "对账单"), "status": ("Result", "结果"),
    "status_balanced": ("balanced", "平"), "status_differs": ("differs", "不平"), "status_refused": ("refused", "被拒绝"),
    "difference": ("Difference", "差额"), "findings": ("Findings", "差异"), "finding": ("Finding", "差异"),
    "run": ("Reconciliation", "对账"), "settlement_date": ("Settlement date", "结算日期"),
    "owed": ("Owed (journals + contract)", "应入账（流水+合同）"), "credited": ("Credited (statement)", "实际入账（对账单）"),
    "explained": ("Explained by the findings", "差异合计"), "unexplained": ("Unexplained", "未解释"),
    "balanced": ("Balanced to the cent.", "对账平，分毫不差。"), "per_terminal": ("Per terminal", "各终端"),
    "lines": ("Lines", "笔数"), "effect": ("Effect", "影响"), "claim": ("Claim letters and evidence", "索赔函与证据"),
    "doc_letter_zh": ("{title} (Chinese)", "{title}（中文）"), "doc_letter_en": ("{title} (English)", "{title}（英文）"),
    "doc_letters": ("{title} (Chinese and English)", "{title}（中英文）"),
    "doc_claim_json": ("{evidence} (JSON)", "{evidence}（JSON）"),
    "doc_statement": ("{statement} as given", "{statement}（原件）"),
    "no_run": ("No reconciliation run {id}.", "没有对账记录 {id}。"),
    "no_document": ("Run {id} has no document {name}.", "对账记录 {id} 没有文件 {name}。"),
    "length_required": ("The upload did not say its size (Content-Length): send it from the page.",
                        "上传未声明大小（Content-Length）：请从页面上传。"),
    "upload_too_large": ("The upload is far over the {limit}-byte limit for a statement and was not read.",
                         "上传文件远超对账单上限 {limit} 字节，未读取。"),
    "bad_form": ("The form could not be read: {why}", "无法读取表单：{why}"),
    "bad_format": ("Format {value!r}: expected one of {known}", "格式 {value!r}：应为 {known} 之一"),
    "bad_encoding": ("Encoding {value!r}: expected one of {known}", "编码 {value!r}：应为 {known} 之一"),
    "no_statement": ("No statement: choose a file to upload or one from the statements directory.",
                     "没有对账单：请选择上传文件或从目录中选择。"),
    "no_statements_dir": ("The office has no statements directory (posoffice serve --statements DIR).",
                          "后台未配置对账单目录（posoffice serve --statements DIR）。"),
    "plain": ("{message}", "{message}"),
    "others": ("the other terminals", "其余终端"),
    "no_days": ("No settled day yet.", "尚无已结算日。"), "count": ("Count", "笔数"), "net": ("Net", "净额"),
    "fees": ("Fees (contract)", "手续费（合同）"), "not_reconciled": ("no statement reconciled", "未对账"),
    "chart_totals": ("Daily net per terminal", "各终端每日净额"), "chart_fees": ("Daily fees per terminal", "各终端每日手续费"),
    "users": ("Users", "用户"), "locked_until": ("Locked until", "锁定至"), "add_user": ("Add user", "添加用户"),
    "terminal_add_hint": ("A terminal is registered (its secret printed once) with", "终端登记（密钥仅显示一次）："),
}


say = partial(catalogue.say, TEXTS)
#: the journal's states the pages name in words (the others by the journal's own name)
STATES_SAID = ("advice_needs_manual", "resolved_manually")


def state_word(language: str, txn: Any, standing: str | None = None) -> str:
    """The state a transaction is shown in: a sale stored offline where it stands in store-and-forward (stored,
    forwarded, declined or approved after forwarding) unless a void or refund changed it (`standing`:
    `overview.standing`); else the state in words (`STATES_SAID`) or as the journal names it, or "no answer yet"."""
    from posoffice.offline import offline_state
    shown = standing or txn.state
    forwarding = offline_state(txn)
    if forwarding is not None and shown in (None, txn.state):
        return say(language, f"state_{forwarding}")
    if shown in STATES_SAID:
        return say(language, f"state_{shown}")
    return say(language, "no_answer") if shown is None else str(shown)
