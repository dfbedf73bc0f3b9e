"""Every word the cashier screen shows, in English and Chinese.  Formats are data: a language is a table.

Placeholders use str.format names; a missing key is a programming error caught by the tests, which
check both tables hold the same keys.
"""

from __future__ import annotations

from agent.ui.actions import UiError

LANGUAGES = ("en", "zh")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        # payment codes (扫码)
        "wallet": "PAY CODE", "prompt.code": "Scan or key code",
        "prompt.new_code": "Customer's new code:", "prompt.or_code": "F1: pay by code",
        "entry.scan": "ENTER=scan", "bad.code": "Not a payment code",
        "bad.code_product": "Product barcode, not a payment code",
        "paying.left": "{left} s left", "paying.wait": "Waiting for the customer to confirm on the phone",
        "paying.short": "Confirm on phone", "paying.cancelling": "Cancelling the order...",
        "scan.now": "Scan the customer's code", "hint.cancel_order": "X=cancel",
        "cancel.failed": "Cancel not sent: {why}", "status.cancelled": "CANCELLED",
        "error.bad_code": "NOT A CODE", "error.scan": "NO SCAN", "d.code": "Code",
        # menu and flow titles
        "menu": "POSAGENT", "sale": "SALE", "void": "VOID", "refund": "REFUND", "correct": "CORRECTION",
        "dups": "DUPLICATES", "reprint": "REPRINT", "lookup": "LOOKUP", "settle": "SETTLEMENT",
        "signon": "SIGN-ON",
        "item.sale": "Sale", "item.void": "Void", "item.refund": "Refund", "item.correct": "Correct amount",
        "item.dups": "Duplicates", "item.reprint": "Reprint receipt", "item.lookup": "Lookup",
        "item.settle": "Settle", "item.signon": "Sign-on",
        "manage": "MANAGE", "gooffline": "GO OFFLINE", "goonline": "BACK ONLINE",
        "item.manage": "Manage", "item.gooffline": "Go offline (supervisor)",
        "item.goonline": "Back online (supervisor)", "error.offline_disabled": "NO OFFLINE",
        "offline.switched": "OFFLINE BY SUPERVISOR — {count} stored, {amount}",
        "offline.switched_mid": "SUP OFFLINE {count}: {amount}", "offline.switched_short": "SUP OFF {count}: {amount}",
        "preauth": "PRE-AUTH", "pahold": "PRE-AUTH", "pacomplete": "COMPLETION", "parelease": "RELEASE HOLD",
        "pacvoid": "COMPL. VOID", "paopen": "OPEN HOLDS", "paadvice": "COMPL. ADV.",
        "item.preauth": "Pre-auth", "item.pahold": "Hold (pre-auth)", "item.pacomplete": "Complete",
        "item.parelease": "Release hold", "item.pacvoid": "Void completion", "item.paopen": "Open holds",
        "item.paadvice": "Complete offline",
        "prompt.preauth_trace": "Pre-auth trace no.:", "prompt.complete_amount": "Completion amount:",
        "prompt.completion_trace": "Completion trace no.:",
        "error.not_open": "NOT HELD", "error.already_completed": "COMPLETED", "error.expired": "EXPIRED",
        "nothing.holds": "No open pre-auths: nothing is held.",
        "kind.preauth": "pre-auth", "kind.preauth_void": "pre-auth void", "kind.completion": "completion",
        "kind.completion_void": "compl. void",
        # choices
        "by.trace": "Trace no.", "by.rrn": "RRN + date", "by.amount": "Amount", "by.last4": "Card last 4",
        "by.date": "Date",
        # prompts
        "prompt.amount": "Amount:", "prompt.right_amount": "Right amount:",
        "prompt.orig_amount": "Original amount:", "prompt.refund_amount": "Refund amount:",
        "prompt.refund_all": "ENTER alone = all still refundable ({amount})",
        "prompt.refund_rest": "ENTER alone = all still refundable",
        "entry.all": "ALL", "prompt.trace": "Trace no.:", "prompt.rrn": "RRN (12 digits):", "prompt.mmdd": "Date of sale MMDD:",
        "prompt.last4": "Card last 4 digits:", "prompt.day": "Date YYYYMMDD, time HHMM optional:",
        "prompt.password": "Supervisor password:", "prompt.choose": "Find by:",
        "prompt.pin": "Customer PIN, then ENTER:", "bad.pin": "A PIN is 4 to 12 digits",
        # hints (last line)
        "hint.menu": "0-9 choose", "hint.choose": "digit choose", "hint.entry": "ENTER ok",
        "hint.confirm": "ENTER yes X no", "hint.list": "ENTER open", "hint.pick": "ENTER choose",
        "hint.view": "ENTER back", "hint.ok": "ENTER ok", "hint.retry": "ENTER retry",
        "hint.refund": "ENTER refund", "hint.wait": "please wait", "hint.cancelling": "cancel: waiting",
        # busy
        "busy": "Processing...", "busy.cancel": "Cancel noted: waiting for the answer, nothing is left half done.",
        # entry problems
        "bad.amount": "Not an amount: key it like 100.00", "bad.trace": "Trace: 1 to 6 digits, not 0",
        "bad.rrn": "RRN: up to 12 digits", "bad.mmdd": "Date: MMDD, e.g. 0315", "bad.last4": "Exactly 4 digits",
        "bad.day": "Date YYYYMMDD or YYYYMMDDHHMM", "bad.password": "Key the password, then ENTER",
        "bad.zero": "Amount must be more than 0",
        "bad.decimals": "At most {most} decimals", "bad.no_decimals": "No decimals in {currency}",
        "bad.too_large": "Too large: at most {most}", "bad.password_long": "At most {most} digits",
        "hint.digits_only": "digits only", "hint.more": "ENTER more",
        # the agent gone: not running (nothing sent), or stopped before it answered
        "down.not_sent": "The agent is not running: nothing was sent, nothing charged. Start it, then try again.",
        "lost.money": "No answer: the agent stopped. The card may have been charged: do not charge again. "
                      "When it is back, check its status, then 7 Lookup {where} to see what was done.",
        "lost.money_status": "No answer: the agent stopped. The card may have been charged: do not charge "
                             "again. When it is back, check its status before anything else.",
        "lost.nothing": "No answer: the agent stopped. This step charges nothing. Start it, then try again.",
        "lost.by_trace": "by trace {trace}", "lost.by_amount": "by amount {amount}",
        # results
        "status.approved": "APPROVED", "status.declined": "DECLINED", "status.reversed": "REVERSED",
        "status.in_doubt": "IN DOUBT", "status.repeat": "ALREADY DONE", "status.done": "DONE",
        "status.needs_confirmation": "CONFIRM", "status.found": "{count} FOUND", "status.open": "NOT FINISHED",
        "idle.open_fixes": "! {count} fix open: {traces} (Correct amount, same trace)",
        "idle.tls_off": "! No TLS to bank",  # one line on the smallest display: the link is not encrypted
        # store-and-forward: the banner on every screen while the bank cannot be reached, longest form first
        "offline.banner": "OFFLINE — {count} stored, {amount}", "offline.banner_mid": "OFFLINE {count}: {amount}",
        "offline.banner_short": "OFF {count}: {amount}",
        "declined.banner": "! {count} DECLINED OFFLINE", "declined.banner_short": "! {count} DECLINED",
        "idle.declined": "! {count} offline sale(s) declined by the bank: ENTER to see (supervisor)",
        "manual.banner": "! {count} OFFLINE NOT SENT", "manual.banner_short": "! {count} NOT SENT",
        "idle.manual": "! {count} offline sale(s) never reached the bank: call the acquirer with the receipt, or ask "
                       "for another payment; supervisor: posagent offline manual",
        "declined": "DECLINED", "nothing.declined": "No stored sale was declined by the bank.",
        "declined.todo": "Approved offline by the card, declined by the bank when forwarded: the money was not "
                         "collected, the merchant bears it. Ask the customer for another payment.",
        "error.auth": "BAD PASSWORD", "error.usage": "NOT ACCEPTED", "error.not_found": "NOT FOUND",
        "error.batch_settled": "SETTLED", "error.offline": "BANK OFFLINE",
        "error.reversal_pending": "REVERSAL DUE", "error.card": "CARD PROBLEM",
        "error.not_voidable": "CANNOT VOID", "error.not_refundable": "NO REFUND",
        "error.amount_too_large": "TOO MUCH", "error.original_uncertain": "ORIG PENDING",
        "error.not_correctable": "CANNOT FIX", "error.unresolved": "UNRESOLVED",
        "error.settlement_incomplete": "INCOMPLETE", "error.signon_failed": "NO SIGN-ON",
        "error.daemon": "AGENT DOWN", "error.other": "NOT DONE",
        "offer.refund": "Press ENTER to refund trace {trace} instead.",
        "offer.retry": "Press ENTER to key the password again.",
        "nothing.trace": "No sale with trace {key} on this terminal.",
        "nothing.rrn": "No sale with RRN {key} on {date}.",
        "refund.elsewhere": "RRN {key} not sold here: the store's office checks what is refundable.", "nothing.amount": "No sale of {key} on this terminal.",
        "nothing.last4": "No sale with a card ending {key}.", "nothing.date": "No transaction on {key}.",
        "nothing.dups": "No suspected duplicate charges.",
        "reprinted": "Receipt of trace {trace} printed again.", "bad_reply": "Unexpected answer from the agent: {why}",
        "cancelled": "Cancelled: nothing was done.",
        # transaction details
        "d.type": "Type", "d.state": "State", "d.time": "Time", "d.amount": "Amount", "d.card": "Card",
        "d.auth": "Auth", "d.rrn": "RRN", "d.batch": "Batch", "d.trace": "Trace", "d.group": "Group",
        "batch.open": "open", "batch.settling": "settling", "batch.settled": "settled",
        "kind.sale": "sale", "kind.void": "void", "kind.refund": "refund", "kind.correction": "correction",
        "state.approved": "approved", "state.declined": "declined", "state.voided": "voided",
        "state.refunded": "refunded", "state.refunded_partially": "part refunded", "state.reversed": "reversed",
        "state.in_doubt": "being reversed", "state.sending": "no answer yet",
        "state.resolved_manually": "resolved by hand", "state.advice_needs_manual": "not sent: manual",
    },
    "zh": {
        "wallet": "扫码支付", "prompt.code": "扫码或输入付款码", "prompt.new_code": "顾客新付款码:",
        "prompt.or_code": "F1=扫码支付", "entry.scan": "确认键扫码", "bad.code": "不是付款码",
        "bad.code_product": "商品条码,不是付款码",
        "paying.left": "剩余{left}秒", "paying.wait": "等待顾客在手机上确认付款",
        "paying.short": "请顾客手机确认", "paying.cancelling": "正在撤销订单...",
        "scan.now": "请扫顾客付款码", "hint.cancel_order": "取消键撤销",
        "cancel.failed": "撤销未送达:{why}", "status.cancelled": "已撤销",
        "error.bad_code": "非付款码", "error.scan": "未扫到码", "d.code": "付款码",
        "menu": "收银台", "sale": "消费", "void": "消费撤销", "refund": "退货", "correct": "更正金额",
        "dups": "重复扣款", "reprint": "重打印", "lookup": "交易查询", "settle": "结算", "signon": "签到",
        "item.sale": "消费", "item.void": "消费撤销", "item.refund": "退货", "item.correct": "更正金额",
        "item.dups": "重复扣款", "item.reprint": "重打印", "item.lookup": "交易查询", "item.settle": "结算",
        "item.signon": "签到",
        "manage": "管理", "gooffline": "转脱机", "goonline": "恢复联机",
        "item.manage": "管理", "item.gooffline": "转脱机（主管）", "item.goonline": "转联机（主管）",
        "error.offline_disabled": "未启用脱机",
        "offline.switched": "主管设脱机——已存{count}笔，{amount}", "offline.switched_mid": "主管脱机{count}笔 {amount}",
        "offline.switched_short": "主管脱机{count} {amount}",
        "preauth": "预授权", "pahold": "预授权", "pacomplete": "预授权完成", "parelease": "预授权撤销",
        "pacvoid": "完成撤销", "paopen": "未完成预授权", "paadvice": "完成通知",
        "item.preauth": "预授权", "item.pahold": "预授权", "item.pacomplete": "预授权完成",
        "item.parelease": "预授权撤销", "item.pacvoid": "预授权完成撤销", "item.paopen": "未完成预授权",
        "item.paadvice": "预授权完成通知",
        "prompt.preauth_trace": "预授权凭证号:", "prompt.complete_amount": "完成金额:",
        "prompt.completion_trace": "完成凭证号:",
        "error.not_open": "预授权已失效", "error.already_completed": "已完成", "error.expired": "已过期",
        "nothing.holds": "没有未完成的预授权。",
        "kind.preauth": "预授权", "kind.preauth_void": "预授权撤销", "kind.completion": "预授权完成",
        "kind.completion_void": "完成撤销",
        "by.trace": "凭证号", "by.rrn": "参考号+日期", "by.amount": "金额", "by.last4": "卡号后4位",
        "by.date": "日期",
        "prompt.amount": "请输入金额:", "prompt.right_amount": "正确金额:", "prompt.orig_amount": "原交易金额:",
        "prompt.refund_amount": "退货金额:", "prompt.refund_all": "直接按确认=全部可退 {amount}",
        "prompt.refund_rest": "直接按确认=全部可退金额",
        "entry.all": "全部", "prompt.trace": "原凭证号:", "prompt.rrn": "参考号(12位):", "prompt.mmdd": "原交易日期MMDD:",
        "prompt.last4": "卡号后4位:", "prompt.day": "日期YYYYMMDD,可加时间HHMM:", "prompt.password": "主管密码:",
        "prompt.pin": "请持卡人输入密码:", "bad.pin": "密码为4至12位数字",
        "prompt.choose": "查找方式:",
        "hint.menu": "按数字选择", "hint.choose": "按数字选择", "hint.entry": "确认键继续",
        "hint.confirm": "确认:是 取消:否", "hint.list": "确认键查看", "hint.pick": "确认键选择",
        "hint.view": "确认键返回", "hint.ok": "确认键返回", "hint.retry": "确认键重输",
        "hint.refund": "确认键退货", "hint.wait": "请稍候", "hint.cancelling": "应答后取消",
        "busy": "处理中...", "busy.cancel": "已收到取消:等待应答,不会留下未完成的交易。",
        "bad.amount": "金额格式错误,如100.00", "bad.trace": "凭证号:1到6位数字", "bad.rrn": "参考号最多12位",
        "bad.mmdd": "日期格式MMDD,如0315", "bad.last4": "请输入4位数字", "bad.day": "日期格式YYYYMMDD或加HHMM",
        "bad.password": "请输入密码后按确认", "bad.zero": "金额必须大于0",
        "bad.decimals": "最多{most}位小数", "bad.no_decimals": "{currency}金额不能有小数",
        "bad.too_large": "金额过大:最多{most}", "bad.password_long": "最多{most}位数字",
        "hint.digits_only": "仅限数字", "hint.more": "确认键下一页",
        "down.not_sent": "代理程序未运行:交易未发送,未扣款。请启动后重试。",
        "lost.money": "无应答:代理程序已停止。卡可能已被扣款,请勿重复收款。恢复后先查看状态,再按7交易查询,{where}核实结果。",
        "lost.money_status": "无应答:代理程序已停止。卡可能已被扣款,请勿重复收款。恢复后请先查看状态。",
        "lost.nothing": "无应答:代理程序已停止。此操作不扣款,请启动后重试。",
        "lost.by_trace": "按凭证号{trace}", "lost.by_amount": "按金额{amount}",
        "status.approved": "交易成功", "status.declined": "交易拒绝", "status.reversed": "已冲正",
        "status.in_doubt": "交易未完成", "status.repeat": "重复请求", "status.done": "完成",
        "status.needs_confirmation": "请确认", "status.found": "找到{count}笔", "status.open": "未完成",
        "idle.open_fixes": "! {count}笔更正未完成：{traces}（更正金额，同一凭证号）",
        "idle.tls_off": "! 银行链路未加密",
        "offline.banner": "脱机——已存{count}笔，{amount}", "offline.banner_mid": "脱机{count}笔 {amount}",
        "offline.banner_short": "脱机{count} {amount}",
        "declined.banner": "! {count}笔脱机交易被拒", "declined.banner_short": "! 被拒{count}笔",
        "idle.declined": "! {count}笔脱机交易上送后被银行拒绝：按确认查看（主管）",
        "manual.banner": "! {count}笔脱机未上送", "manual.banner_short": "! 未上送{count}笔",
        "idle.manual": "! {count}笔脱机交易未能上送银行：请持签购单联系收单机构，或请顾客改用其他方式付款；"
                       "主管：posagent offline manual",
        "declined": "脱机被拒", "nothing.declined": "没有被银行拒绝的脱机交易。",
        "declined.todo": "该交易脱机时经卡片批准，上送时被银行拒绝：款项未收到，损失由商户承担。请顾客改用其他方式付款。",
        "error.auth": "密码错误", "error.usage": "输入有误", "error.not_found": "未找到",
        "error.batch_settled": "批次已结算", "error.offline": "无法连接银行", "error.reversal_pending": "冲正未完成",
        "error.card": "读卡失败", "error.not_voidable": "不能撤销", "error.not_refundable": "不能退货",
        "error.amount_too_large": "金额超限", "error.original_uncertain": "原交易未确定",
        "error.not_correctable": "不能更正", "error.unresolved": "有交易未确定", "error.settlement_incomplete": "结算未完成",
        "error.signon_failed": "签到失败", "error.daemon": "代理未连接", "error.other": "交易未完成",
        "offer.refund": "按确认键改为退货(凭证号{trace})。", "offer.retry": "按确认键重新输入密码。",
        "nothing.trace": "本终端没有凭证号{key}的消费。", "nothing.rrn": "{date}没有参考号{key}的消费。",
        "refund.elsewhere": "参考号{key}非本机交易：由门店后台核对可退金额。",
        "nothing.amount": "本终端没有金额{key}的消费。", "nothing.last4": "没有卡号后4位为{key}的消费。",
        "nothing.date": "{key}没有交易。", "nothing.dups": "没有疑似重复扣款。",
        "reprinted": "凭证号{trace}的签购单已重打印。", "bad_reply": "代理程序应答异常:{why}",
        "cancelled": "已取消:未做任何交易。",
        "d.type": "类型", "d.state": "状态", "d.time": "时间", "d.amount": "金额", "d.card": "卡号",
        "d.auth": "授权码", "d.rrn": "参考号", "d.batch": "批次号", "d.trace": "凭证号", "d.group": "组",
        "batch.open": "未结算", "batch.settling": "结算中", "batch.settled": "已结算",
        "kind.sale": "消费", "kind.void": "撤销", "kind.refund": "退货", "kind.correction": "更正消费",
        "state.approved": "成功", "state.declined": "拒绝", "state.voided": "已撤销", "state.refunded": "已退货",
        "state.refunded_partially": "部分退货", "state.reversed": "已冲正", "state.in_doubt": "冲正中",
        "state.sending": "等待应答", "state.resolved_manually": "已人工处理",
        "state.advice_needs_manual": "未上送：需人工",
    },
}


#: titles and headlines share the top line with a page marker ("1/4"): on a 16-column screen 12 columns remain
HEADLINE_COLUMNS = 12


class Texts:
    """The words of one language: ``texts("prompt.refund_all", amount="120.00")``."""

    def __init__(self, language: str):
        if language not in TEXTS:
            raise UiError(f"screen language {language!r} is not available (known: {', '.join(LANGUAGES)})")
        self.language = language
        self._table = TEXTS[language]

    def __call__(self, name: str, **values: object) -> str:
        return self._table[name].format(**values) if values else self._table[name]

    def get(self, name: str, fallback: str) -> str:
        return self._table.get(name, fallback)
