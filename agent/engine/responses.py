"""Host response codes (field 39) as short, actionable text for cashiers, in English and Chinese."""

from __future__ import annotations

# code: (english, chinese, what the cashier should do — english)
RESPONSE_CODES: dict[str, tuple[str, str]] = {
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
    "90": ("Bank cut-off in progress — try again in a few minutes", "日期切换正在处理"),
    "91": ("Card issuer unavailable — try again later", "发卡方不能操作"),
    "94": ("Duplicate transaction", "重复交易"),
    "96": ("Bank system malfunction — try again later", "系统异常"),
    "97": ("Terminal not registered — call the acquirer", "终端未登记"),
    "98": ("No answer from the card issuer", "发卡方超时"),
    "99": ("PIN format error", "PIN格式错"),
    "A0": ("Security check failed (MAC) — sign on again", "MAC校验错"),
}


def describe(code: str | None, language: str = "en") -> str:
    """Cashier-facing text for a response code; unknown codes are named, never hidden."""
    if code is None:
        return "no response code" if language == "en" else "无应答码"
    known = RESPONSE_CODES.get(code)
    if known is None:
        return f"Declined (code {code})" if language == "en" else f"交易失败 (应答码 {code})"
    return known[0] if language == "en" else known[1]
