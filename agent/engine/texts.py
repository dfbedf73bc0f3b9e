"""What the engine says to cashiers and supervisors, in English and Chinese (`[terminal] language`).

One table: key → (English, Chinese) templates with named fields.  Technical details handed in from the
link or the card (e.g. "no answer to 0200 stan 000123 within 30s") stay as they are.
"""

from __future__ import annotations

from functools import partial

from agent import catalogue

TEXTS: catalogue.Texts = {
    # ---- link and reversals
    "offline": ("cannot reach the bank ({detail}); nothing was sent — check the network and try again",
                "无法连接银行（{detail}）；交易未发送——请检查网络后重试"),
    "reversal_pending": ("the reversal of trace {trace} is not acknowledged yet ({problem}); nothing else can be "
                         "sent until it is — try again in a moment",
                         "凭证号 {trace} 的冲正尚未得到银行确认（{problem}）；确认前不能发送其他交易——请稍后再试"),
    "not_completed": ("{operation} not completed: {why}. A reversal is queued and will be sent before the next "
                      "transaction; do not charge again until it is.",
                      "{operation}未完成：{why}。冲正已排队，将在下一笔交易前发送；冲正完成前请勿重复扣款。"),
    "cancelled": ("{operation} cancelled: {why}. The bank has reversed it; nothing was charged.",
                  "{operation}已取消：{why}。银行已冲正，未扣款。"),
    "why_98": ("no answer from the bank", "银行无应答"),
    "why_A0": ("the bank's answer failed the security check", "银行应答未通过安全校验"),
    "why_06": ("the transaction could not be completed", "交易无法完成"),
    "op_sale": ("Sale", "消费"), "op_void": ("Void", "撤销"), "op_refund": ("Refund", "退货"),
    # ---- sale
    "sale_approved": ("Sale approved: {amount} on card {card} (trace {trace}, auth {auth}).",
                      "消费成功：卡号 {card} 扣款 {amount}（凭证号 {trace}，授权码 {auth}）。"),
    "sale_declined": ("Sale declined: {reason}.", "消费失败：{reason}。"),
    "sale_approved_offline": ("Sale approved offline by the card: {amount} on card {card} (trace {trace}); the bank "
                              "is told before the next online transaction.",
                              "卡片脱机批准消费：卡号 {card} 扣款 {amount}（凭证号 {trace}）；将在下一笔联机交易前通知银行。"),
    "advice_card_sealed": ("the sealed card of the sale stored offline with trace {trace} does not open ({problem}): "
                           "the bank cannot be told of it and it needs manual handling (posagent offline manual)",
                           "凭证号 {trace} 的脱机存储交易的加密卡号无法解开（{problem}）：无法通知银行，需人工处理"
                           "（posagent offline manual）"),
    "settle_manual": (" {count} sale(s) stored offline for {amount} that the bank was never told of (sealed card does "
                      "not open) are not in these totals: settle them with the acquirer or the customer (posagent "
                      "offline manual).", "另有 {count} 笔脱机存储交易（共 {amount}）从未通知银行（加密卡号无法解开），"
                      "不计入以上总计：请与收单机构或顾客处理（posagent offline manual）。"),
    "unusual": ("{amount} is unusually large for this terminal (typical sale {typical}).{meant} Check the amount; "
                "confirm to go on.",
                "{amount} 远高于本终端的常见金额（通常 {typical}）。{meant}请核对金额，确认后继续。"),
    "did_you_mean": (" Did you mean {meant}?", "是否应为 {meant}（漏输小数点）？"),
    "above_maximum": ("{amount} is above this terminal's maximum of {most}: refused, nothing was sent.{meant} Key the "
                      "right amount (the maximum is the supervisor's setting [guards] max_amount).",
                      "{amount} 超过本终端单笔上限 {most}：已拒绝，未发送任何交易。{meant}请输入正确金额（上限由主管在 "
                      "[guards] max_amount 设置）。"),
    "duplicate": ("This card paid {amount} a moment ago (trace {trace}). Charge it again? Confirm only if the "
                  "customer buys twice.",
                  "此卡刚刚支付过 {amount}（凭证号 {trace}）。确定再次扣款？仅当顾客确实购买两次时确认。"),
    # ---- void
    "void_approved": ("Void approved: {amount} of trace {trace} is cancelled.",
                      "撤销成功：凭证号 {trace} 的 {amount} 已取消。"),
    "no_sale_trace": ("no sale with trace {trace} on this terminal", "本终端没有凭证号为 {trace} 的消费"),
    "void_settled": ("trace {trace} is in batch {batch}, settled {when}: a void is no longer possible. Refund it "
                     "instead: `posagent refund --trace {trace}`",
                     "凭证号 {trace} 属于批次 {batch}，已于 {when} 结算：不能再撤销，请改用退货: `posagent refund --trace {trace}`"),
    "voided": ("trace {trace} is already voided", "凭证号 {trace} 已撤销"),
    "refunded": ("trace {trace} is already fully refunded", "凭证号 {trace} 已全额退货"),
    "refunded_partially": ("trace {trace} is partly refunded; refund the rest instead of voiding",
                           "凭证号 {trace} 已部分退货；请对余额做退货，不能撤销"),
    "declined": ("trace {trace} was declined: nothing was charged, nothing to void",
                 "凭证号 {trace} 交易失败：未扣款，无需撤销"),
    "reversed": ("trace {trace} was reversed: nothing was charged, nothing to void",
                 "凭证号 {trace} 已冲正：未扣款，无需撤销"),
    "sending": ("trace {trace} has no outcome yet; wait until it is resolved", "凭证号 {trace} 结果未明，请等待处理完成"),
    "in_doubt": ("trace {trace} is being reversed; wait until the reversal is acknowledged",
                 "凭证号 {trace} 正在冲正，请等待银行确认"),
    "resolved_manually": ("trace {trace} was resolved by hand; check with the acquirer",
                          "凭证号 {trace} 已人工处理，请与收单机构核实"),
    "other_state": ("trace {trace} is {state}", "凭证号 {trace} 状态为 {state}"),
    # ---- refund
    "name_original": ("name the original sale: --trace, or --rrn with --date MMDD",
                      "请指定原交易：凭证号，或参考号加日期（MMDD）"),
    "no_sale_with": ("no sale with {what} in this terminal's journal", "本终端流水中没有{what}的消费"),
    "what_trace": ("trace {trace}", "凭证号 {trace} "),
    "what_rrn": ("RRN {rrn}", "参考号 {rrn} "),
    "what_rrn_date": ("RRN {rrn} on {day}", "参考号 {rrn}（{day}）"),
    "nothing_to_refund": ("trace {trace} is {state}: nothing was charged, nothing to refund",
                          "凭证号 {trace} 状态为 {state}：未扣款，无需退货"),
    "original_uncertain": ("trace {trace} has no final outcome yet; it is being resolved — try again after",
                           "凭证号 {trace} 结果未明，正在处理中——请稍后再试"),
    "fully_refunded": ("trace {trace} is already fully refunded (or a refund is still in progress)",
                       "凭证号 {trace} 已全额退货（或有退货正在处理）"),
    "refund_too_large": ("refund of {amount} is more than the {refundable} still refundable on trace {trace} "
                         "(original {original})",
                         "退货金额 {amount} 超过凭证号 {trace} 的可退余额 {refundable}（原金额 {original}）"),
    "refund_approved": ("Refund approved: {amount} back to card {card} (trace {trace}; {left} still refundable).",
                        "退货成功：{amount} 退回卡号 {card}（原凭证号 {trace}；可退余额 {left}）。"),
    "refund_other_part": ("Trace {part}, a correction of this sale, is charged apart ({amount} refundable): "
                          "`posagent refund --trace {part}`.",
                          "凭证号 {part}（该笔消费的更正）单独扣款（可退 {amount}）：`posagent refund --trace {part}`。"),
    "repeat": ("Not paid twice: {why} (trace {trace}, {amount}, {state}).",
               "未重复退款：{why}（凭证号 {trace}，{amount}，{state}）。"),
    "repeat_refund": ("Not refunded: sale trace {original} already had {amount} refunded a moment ago (refund trace "
                      "{trace}, {state}). To make a second identical refund on purpose, re-run with --confirm-repeat.",
                      "未退款：原消费凭证号 {original} 刚刚已退款 {amount}（退货凭证号 {trace}，{state}）。如确需再退一笔"
                      "相同金额，请加 --confirm-repeat 重新执行。"),
    "why_same_request": ("this refund request was already made", "该退货请求已处理过"),
    "why_same_refund": ("the same refund was just made", "相同的退货刚刚完成"),
    # ---- corrections and duplicates
    "not_correctable": ("trace {trace} is {state}: the customer was not charged by it; run a new sale of {amount} "
                        "instead", "凭证号 {trace} 状态为 {state}：顾客未被扣款；请直接做一笔 {amount} 的消费"),
    "still_uncertain": ("trace {trace} still has no final outcome; nothing more is charged until it is resolved",
                        "凭证号 {trace} 结果仍未明；处理完成前不再扣款"),
    "nothing_to_correct": ("Nothing to correct: trace {trace} stands at {amount}.",
                           "无需更正：凭证号 {trace} 的金额为 {amount}。"),
    "overcharge_refund": ("Overcharge of {amount}: refunding the difference ({why}).",
                          "多收 {amount}：退还差额（{why}）。"),
    "why_settled": ("the batch is settled", "批次已结算"),
    "why_partly_refunded": ("it was partly refunded already", "已部分退货"),
    "why_asked": ("as asked", "按要求"),
    "why_corrected": ("it was corrected before and is charged in {count} parts",
                      "该笔交易已更正过，分 {count} 笔扣款"),
    "resale_after_correction": ("trace {trace} was corrected before: a void and re-sale would leave the earlier "
                                "correction charged; correct it without --method resale (a difference is "
                                "refunded or charged)", "凭证号 {trace} 已更正过：撤销重做会使之前的更正仍被扣款；请不要使用 "
                                "--method resale（差额将退还或补收）"),
    "void_then_resale": ("Batch open: void {original}, then charge the right {right}.",
                         "批次未结算：撤销 {original}，再按正确金额 {right} 扣款。"),
    "void_then_resale_done": ("Batch open: voided {original} and charged the right {right}.",
                              "批次未结算：已撤销 {original}，并按正确金额 {right} 重新扣款。"),
    "use_refund_method": ("the batch is settled: a void is no longer possible; use --method refund",
                          "批次已结算：不能撤销；请改用退货方式"),
    "undercharge": ("Undercharge: collecting the {amount} difference as a sale linked to trace {trace}.",
                    "少收：以关联凭证号 {trace} 的消费收取差额 {amount}。"),
    "no_sale_id": ("no sale with id {id} on this terminal", "本终端没有编号为 {id} 的消费"),
    "not_duplicate": ("sale {id} (trace {trace}) is not a suspected duplicate", "消费 {id}（凭证号 {trace}）不是疑似重复扣款"),
    "dup_void": ("Duplicate trace {trace}: batch open, voiding it.", "重复扣款凭证号 {trace}：批次未结算，撤销该笔。"),
    "dup_refund": ("Duplicate trace {trace}: batch settled, refunding it in full.",
                   "重复扣款凭证号 {trace}：批次已结算，全额退货。"),
    # ---- multi-step fixes (engine/fixrun.py)
    "fix_done_void": ("Voided {amount}.", "已撤销 {amount}。"),
    "fix_done_sale": ("Charged {amount}.", "已扣款 {amount}。"),
    "fix_done_refund": ("Refunded {amount}.", "已退款 {amount}。"),
    "fix_owed_void": ("{amount} still to void", "尚需撤销 {amount}"),
    "fix_owed_sale": ("{amount} still to charge", "尚需收取 {amount}"),
    "fix_owed_refund": ("{amount} still to refund", "尚需退款 {amount}"),
    "fix_pending_void": ("the void of {amount} has no final outcome yet", "{amount} 的撤销结果未明"),
    "fix_pending_sale": ("the sale of {amount} has no final outcome yet", "{amount} 的消费结果未明"),
    "fix_pending_refund": ("the refund of {amount} has no final outcome yet", "{amount} 的退款结果未明"),
    "fix_nothing_done": ("Nothing done yet.", "尚未完成任何步骤。"),
    "fix_action_card": ("{what}: insert the card — `{command}`", "{what}：请插卡——`{command}`"),
    "fix_action": ("{what}: `{command}`", "{what}：`{command}`"),
    "fix_pending": ("{what}: it is being reversed automatically (never charged twice); then `{command}`",
                    "{what}：正在自动冲正（不会重复扣款）；之后执行 `{command}`"),
    "fix_other_card": ("this is not the card of trace {trace} (card {card}); insert that card",
                       "这不是凭证号 {trace} 所用的卡（卡号 {card}）；请插入该卡"),
    "fix_nothing_changed": ("Nothing was changed; start again when the card is ready.",
                            "未做任何更改；备好卡后重新开始。"),
    "fix_other_target": ("trace {trace} has an open correction to {target} (fix {id}): finish it with `{command}`, "
                         "or close it with `posagent fixes --close {id} --reason TEXT`",
                         "凭证号 {trace} 有一笔未完成的更正（目标 {target}，修正 {id}）：用 `{command}` 完成，或用 "
                         "`posagent fixes --close {id} --reason 原因` 关闭"),
    "right_amount_zero": ("the right amount must be more than 0; to take back all of trace {trace}, void or refund "
                          "it", "正确金额必须大于 0；如需全部退回凭证号 {trace}，请撤销或退货"),
    "fix_none": ("trace {trace} has no open correction to resume", "凭证号 {trace} 没有可继续的未完成更正"),
    "fix_closed": ("Fix {id} closed: {reason}. Nothing more will be charged or refunded for it.",
                   "修正 {id} 已关闭：{reason}。不再为其扣款或退款。"),
    "fix_not_open": ("fix {id} is {state}: nothing to close", "修正 {id} 状态为 {state}：无需关闭"),
    "fixes_open": ("{count} fix(es) left open: {list}", "{count} 笔更正未完成：{list}"),
    "settle_open_fixes": ("{count} fix(es) are still open: {list}. Finish them first, or settle anyway with "
                          "--confirm-open-fixes (they stay open and must then be closed by hand).",
                          "仍有 {count} 笔更正未完成：{list}。请先完成；或加 --confirm-open-fixes 照常结算（之后须人工关闭）。"),
    # ---- the card reader (agent/emv/card_errors.py: one key per error class)
    "card_ReaderNotFound": ("Card reader not found — check the reader connection", "未找到读卡器——请检查读卡器连接"),
    "card_CardTimeout": ("No card inserted in time — start again", "未及时插卡——请重新开始"),
    "card_CardCancelled": ("Cancelled", "已取消"),
    "card_CardRemoved": ("Card removed — insert the card again", "卡已拔出——请重新插卡"),
    "card_CardRemovedAfterApproval": ("Card removed before completion — the payment is being reversed",
                                      "交易完成前卡被拔出——该笔付款正在冲正"),
    "card_CardMute": ("Card not responding — remove it and insert it again", "卡无响应——请拔出后重新插入"),
    "card_NoSupportedApplication": ("Card not supported — use another card", "不支持此卡——请换卡"),
    "card_CardBlocked": ("Card blocked — use another card", "卡已锁定——请换卡"),
    "card_UnexpectedStatusWord": ("Card read error — insert the card again", "读卡错误——请重新插卡"),
    "card_UnexpectedStatusWord_sw": ("Card read error ({sw}) — insert the card again", "读卡错误（{sw}）——请重新插卡"),
    "card_BadCardData": ("Card data unreadable — use another card", "卡数据无法读取——请换卡"),
    "card_CardDeclinedOffline": ("Card declined the payment — use another card", "卡片拒绝此笔付款——请换卡"),
    "card_CardAuthenticationFailed": ("Card authentication failed — declined by the terminal, use another card",
                                      "卡片认证失败——终端拒绝交易，请换卡"),
    "card_CardDataWiped": ("Card data already cleared — read the card again", "卡数据已清除——请重新读卡"),
    "card_ManualEntryRefused": ("Manual card entry needs a supervisor", "手工输入卡号需主管授权"),
    "keyed_disabled": ("manual card entry is off (card_reader.manual_entry = false): insert or swipe the card",
                       "手工输入卡号已关闭（card_reader.manual_entry = false）：请插卡或刷卡"),
    "keyed_needs_card": ("a keyed sale names the test card keyed (--card NAME)", "手工输入消费需指定测试卡（--card NAME）"),
    "card_CardError": ("Card error — try again", "读卡出错——请重试"),
    "card_PinPadError": ("PIN could not be enciphered — sign on and try again", "密码无法加密——请签到后重试"),
    # ---- outcome unknown
    "outcome_unknown": ("The outcome is unknown: {detail}. The card may have been charged; if it was, it is "
                        "reversed automatically when the daemon is back — never charged twice. Check with "
                        "`posagent status` and `posagent journal show ID` before charging again.",
                        "结果未知：{detail}。卡可能已被扣款；如已扣款，守护进程恢复后会自动冲正——不会重复扣款。"
                        "再次收款前请用 `posagent status` 和 `posagent journal show ID` 核实。"),
    # ---- settlement
    "totals": ("sales {sales} for {sales_amount}, refunds {refunds} for {refunds_amount}",
               "消费 {sales} 笔共 {sales_amount}，退货 {refunds} 笔共 {refunds_amount}"),
    "totals_split": (" (card: {card}; payment code: {wallet})", "（银行卡：{card}；扫码：{wallet}）"),
    "settle_confirm": ("Settle batch {batch}: {totals}. After settlement, sales of this batch can only be refunded, "
                       "not voided. Confirm?",
                       "结算批次 {batch}：{totals}。结算后本批次的消费只能退货，不能撤销。确认结算？"),
    "settle_resume": ("The settlement of batch {batch} was interrupted; confirm to finish it (nothing is counted "
                      "twice).", "批次 {batch} 的结算曾中断；确认后继续完成（不会重复计算）。"),
    "settle_unresolved": ("{count} transaction(s) of this batch have no final outcome yet; settle after they are "
                          "resolved", "本批次有 {count} 笔交易结果未明；请处理完成后再结算"),
    "settle_incomplete": ("{what}: {detail}. The settlement is not finished; run settle again — it resumes where it "
                          "stopped", "{what}：{detail}。结算未完成；请再次结算——将从中断处继续"),
    "settle_mismatch": ("{what}: the bank's answer does not match the request; run settle again",
                        "{what}：银行应答与请求不符；请再次结算"),
    "settle_refused": ("{what}: the bank refused it (answer {code}) and settled nothing; run settle again — it "
                       "resumes where it stopped", "{what}：银行拒绝（应答码 {code}），未结算；请再次结算——将从中断处继续"),
    "settled": ("Batch {batch} settled ({result}): {totals}; {uploaded} record(s) uploaded. New batch {next} is open.",
                "批次 {batch} 已结算（{result}）：{totals}；上送 {uploaded} 笔。新批次 {next} 已开启。"),
    "settle_stored_confirm": ("{count} sale(s) stored offline ({amount}) cannot be forwarded now ({problem}). "
                              "Wait and settle once they are forwarded, or confirm (supervisor, --confirm-stored): "
                              "they move to the next batch — batch {batch} settles without them, and they are "
                              "forwarded with the next batch's number when the bank takes them and settled with it.",
                              "{count} 笔脱机存储的交易（{amount}）现在无法上送（{problem}）。请等上送后再结算；或由"
                              "主管确认（--confirm-stored）：这些交易移入下一批次——批次 {batch} 不含它们结算，"
                              "银行可接收时以下一批次号上送，并随下一批次结算。"),
    "settle_stored_why": ("the bank did not take the advice of trace {why}", "银行未接收凭证号 {why} 的通知"),
    "settle_stored_sent": ("the advice of trace {traces} went to the bank without an answer ({problem}): the bank may "
                           "have booked it in batch {batch}, so it cannot move to the next batch — settle once it is "
                           "forwarded", "凭证号 {traces} 的通知已发往银行但未获应答（{problem}）：银行可能已将其记入"
                           "批次 {batch}，不能移入下一批次——请上送后再结算"),
    "settled_moved": (" {count} sale(s) stored offline ({amount}) moved to batch {next} and are not in these totals: "
                      "they are forwarded and settled with it.", " {count} 笔脱机存储的交易（{amount}）已移入批次 {next}，"
                      "不计入本次总计：随该批次上送并结算。"),
    # ---- progress on the screen while an operation runs, and the network operations' answers
    "signing_on": ("Signing on…", "正在签到…"),
    "reversing": ("Reversing trace {trace}…", "正在冲正凭证号 {trace}…"),
    "sending_advice": ("Sending the advice of trace {trace}…", "正在发送凭证号 {trace} 的通知…"),
    "sending_tc": ("Sending the TC of trace {trace}…", "正在上送凭证号 {trace} 的 TC…"),
    "tc_postponed": ("TC upload postponed: {detail}", "TC 上送推迟：{detail}"),
    "bank_answered": ("bank answered {code}: {meaning}", "银行应答码 {code}：{meaning}"),
    "settling": ("Settling batch {batch}…", "正在结算批次 {batch}…"),
    "what_settlement": ("settlement", "结算"), "what_upload_end": ("batch upload end", "批上送结束"),
    "what_upload": ("batch upload of trace {trace}", "凭证号 {trace} 的批上送"),
    "result_balanced": ("balanced", "对账平"), "result_unbalanced": ("unbalanced", "对账不平"),
    "result_error": ("error", "对账出错"),
    "uploading": ("Uploading trace {trace}…", "正在上送凭证号 {trace}…"),
    "signed_on": ("signed on: batch {batch}, keys installed (check values {kcv})",
                  "签到成功：批次 {batch}，工作密钥已安装（校验值 {kcv}）"),
    "no_param_download": ("this acquirer's dialect has no parameter download: the local files stay in force",
                          "该收单机构不支持参数下载：继续使用本地参数文件"),
    "reversals_none": ("no reversal was pending", "没有待发送的冲正"),
    "reversals_sent": ("{count} reversal(s) sent and acknowledged", "{count} 笔冲正已发送并得到确认"),
    "reversals_manual": ("{acknowledged} reversal(s) acknowledged; {count} could not be delivered and now need manual "
                         "handling (trace {traces}): call the acquirer",
                         "{acknowledged} 笔冲正已确认；{count} 笔无法送达，需人工处理（凭证号 {traces}）：请联系收单机构"),
    "unrecorded": ("outcome unknown: the card may have been charged, but the journal could not record the bank's "
                   "answer ({why}); it is reversed as soon as the journal can be written again: check `posagent "
                   "status` before charging again",
                   "结果未知：卡可能已被扣款，但流水未能记录银行应答（{why}）；流水恢复可写后将立即冲正：再次收款前请用 "
                   "`posagent status` 核实"),
    "abandoned": ("{operation} not started: the caller left while it waited for the operation before it; nothing was "
                  "sent to the bank", "{operation} 未开始：等待前一笔操作时请求方已离开；未向银行发送任何交易"),
    "echo_ok": ("link test ok: the acquirer answered", "线路测试成功：收单机构已应答"),
    "echo_failed": ("link test failed: {detail}", "线路测试失败：{detail}"),
    "signon_failed": ("sign-on failed: {detail}", "签到失败：{detail}"),
}


#: the text for `key` in `language`, its fields filled in: `say(language, key, **values)`
say = partial(catalogue.say, TEXTS)

from agent.engine.preauth.texts import PREAUTH_TEXTS  # noqa: E402 — the pre-authorization family's texts

TEXTS.update(PREAUTH_TEXTS)
