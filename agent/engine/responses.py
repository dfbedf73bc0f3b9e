"""Host response codes (field 39) as short, actionable text for cashiers, in English and Chinese."""

from __future__ import annotations

from agent.catalogue import Texts, say

# code: (English, Chinese), each saying what the cashier should do
RESPONSE_CODES: Texts = {
    "00": ("Approved", "交易成功"),
    "01": ("Refer to card issuer — ask the customer to call the bank", "请持卡人与发卡行联系"),
    "03": ("Invalid merchant — call the acquirer", "无效商户"),
    "04": ("Card retained — keep the card, call the acquirer", "没收卡"),
    "05": ("Declined by the bank (do not honour) — try another card", "不予承兑"),
    "12": ("Invalid transaction — this card cannot do this", "无效交易"),
    "13": ("Invalid amount", "无效金额"),
    "14": ("Invalid card number — try another card", "无效卡号"),
    "15": ("No such issuer — try another card", "无此发卡行"),
    "22": ("Suspected malfunction — try again", "故障怀疑"),
    "25": ("Original transaction not found at the bank", "找不到原始交易"),
    "30": ("Format error — call the acquirer", "格式错误"),
    "33": ("Expired card — try another card", "过期的卡"),
    "34": ("Suspected fraud — keep the card, call the acquirer", "有作弊嫌疑"),
    "40": ("Function not supported by the bank", "请求的功能尚不支持"),
    "41": ("Lost card — keep the card, call the acquirer", "挂失卡"),
    "43": ("Stolen card — keep the card, call the acquirer", "被窃卡"),
    "51": ("Insufficient funds — try another card", "余额不足"),
    "54": ("Expired card — try another card", "过期的卡"),
    "55": ("Wrong PIN — ask the customer to try again", "密码错"),
    "57": ("Not permitted for this card", "不允许持卡人进行的交易"),
    "58": ("Not permitted on this terminal", "不允许终端进行的交易"),
    "61": ("Amount over the card's limit", "超出金额限制"),
    "64": ("Amount does not match the original", "原始金额不正确"),
    "75": ("Too many wrong PINs — card locked", "允许的输入PIN次数超限"),
    "77": ("Sign on again — the bank holds no working keys for this terminal", "请重新签到"),
    "90": ("Bank cut-off in progress — try again in a few minutes", "日期切换正在处理"),
    "91": ("Card issuer unavailable — try again later", "发卡方不能操作"),
    "94": ("Duplicate transaction", "重复交易"),
    "96": ("Bank system malfunction — try again later", "系统异常"),
    "97": ("Terminal not registered — call the acquirer", "终端未登记"),
    "98": ("No answer from the card issuer", "发卡方超时"),
    "99": ("PIN format error", "PIN格式错"),
    "A0": ("Security check failed (MAC) — sign on again", "MAC校验错"),
}


#: answers by which the bank says it did not process a message at all — sign on again (77), the MAC did not
#: check (A0), or its systems could not (22, 90, 91, 96, 98): an advice answered so is still owed and goes
#: again (it is never the bank's decline of the stored sale, which the merchant would bear)
NOT_PROCESSED: frozenset[str] = frozenset({"22", "77", "90", "91", "96", "98", "A0"})
#: of those, the ones that call for new working keys: the terminal signs on, then sends the message again
SIGN_ON_AGAIN: frozenset[str] = frozenset({"77", "A0"})


#: the same codes on a wallet payment code, where "card" would send the cashier the wrong way
WALLET_CODES: Texts = {
    "04": ("Payment refused by the wallet — ask for another way to pay", "钱包拒绝付款,请换其他方式支付"),
    "05": ("Declined by the wallet — ask for another way to pay", "钱包拒绝付款,请换其他方式支付"),
    "12": ("Payment code already used — ask the customer to show a fresh code, or for another way to pay",
           "付款码已使用,请顾客刷新付款码或换其他方式支付"),
    "14": ("Invalid payment code — ask the customer to show a fresh code", "无效付款码,请顾客刷新付款码"),
    "33": ("Payment code expired — ask the customer to refresh it", "付款码已过期,请顾客刷新"),
    "34": ("Payment refused by the wallet — ask for another way to pay", "钱包拒绝付款,请换其他方式支付"),
    "41": ("Payment refused by the wallet — ask for another way to pay", "钱包拒绝付款,请换其他方式支付"),
    "43": ("Payment refused by the wallet — ask for another way to pay", "钱包拒绝付款,请换其他方式支付"),
    "51": ("Not enough in the wallet — ask for another way to pay", "钱包余额不足,请换其他方式支付"),
    "54": ("Payment code expired — ask the customer to refresh it", "付款码已过期,请顾客刷新"),
    "57": ("Not permitted for this wallet", "该钱包不允许此交易"),
    "61": ("Amount over the wallet's limit — ask for another way to pay", "超出钱包限额,请换其他方式支付"),
}


#: no response code, and one in neither table
NO_CODE: Texts = {
    "none": ("no response code", "无应答码"),
    "unknown": ("Declined (code {code})", "交易失败 (应答码 {code})"),
}


def describe(code: str | None, language: str = "en", *, wallet: bool = False) -> str:
    """Cashier-facing text for a response code (`wallet`: of a payment-code payment); unknown codes are
    named, never hidden."""
    if code is None:
        return say(NO_CODE, language, "none")
    codes = WALLET_CODES if wallet and code in WALLET_CODES else RESPONSE_CODES
    return say(codes, language, code) if code in codes else say(NO_CODE, language, "unknown", code=code)
