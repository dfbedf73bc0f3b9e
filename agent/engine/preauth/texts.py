"""What the pre-authorization family says (预授权), in English and Chinese; merged into `texts.TEXTS`."""

from __future__ import annotations

from agent.catalogue import Texts

PREAUTH_TEXTS: Texts = {
    "op_preauth": ("Pre-auth", "预授权"), "op_preauth_void": ("Pre-auth void", "预授权撤销"),
    "op_completion": ("Completion", "预授权完成"), "op_completion_void": ("Completion void", "预授权完成撤销"),
    "preauth_approved": ("Pre-auth approved: {amount} held on card {card} (trace {trace}, auth {auth}). Complete "
                         "it within {days} days, or release it.",
                         "预授权成功：卡号 {card} 冻结 {amount}（凭证号 {trace}，授权码 {auth}）。请在 {days} 天内完成"
                         "或撤销。"),
    "preauth_declined": ("Pre-auth declined: {reason}.", "预授权失败：{reason}。"),
    "preauth_duplicate": ("This card was held for {amount} a moment ago (pre-auth trace {trace}). Hold it again? "
                          "Confirm only for a second stay.",
                          "此卡刚刚预授权冻结过 {amount}（凭证号 {trace}）。确定再次冻结？仅当确为另一笔时确认。"),
    "no_preauth_trace": ("no pre-auth with trace {trace} on this terminal", "本终端没有凭证号为 {trace} 的预授权"),
    "no_completion_trace": ("no completion with trace {trace} on this terminal",
                            "本终端没有凭证号为 {trace} 的预授权完成"),
    "preauth_not_held": ("pre-auth trace {trace} is {state}: nothing is held on the card",
                         "预授权凭证号 {trace} 状态为 {state}：卡上没有冻结金额"),
    "preauth_released": ("pre-auth trace {trace} is already voided: its hold was released",
                         "预授权凭证号 {trace} 已撤销：冻结已解除"),
    "preauth_uncertain": ("pre-auth trace {trace} has no final outcome yet; it is being resolved — try again after",
                          "预授权凭证号 {trace} 结果未明，正在处理中——请稍后再试"),
    "preauth_completed": ("pre-auth trace {trace} was completed on {when} (completion trace {completion}, {amount}): "
                          "{what}",
                          "预授权凭证号 {trace} 已于 {when} 完成（完成凭证号 {completion}，{amount}）：{what}"),
    "preauth_completion_uncertain": (
        "pre-auth trace {trace}: its completion (trace {completion}, {amount}) is in doubt — the bank's answer never "
        "arrived; it is being resolved by its reversal, sent before anything else. Check `posagent reversals`: once "
        "the reversal is acknowledged the hold is open again (`posagent preauth list`) and can be completed",
        "预授权凭证号 {trace}：其完成（凭证号 {completion}，{amount}）结果未明——未收到银行应答；正在以冲正处理，冲正优先发送。"
        "请查看 `posagent reversals`：冲正被确认后冻结恢复（`posagent preauth list`），可重新完成"),
    "what_correct": ("to change the amount: `posagent correct {completion} --amount AMOUNT`",
                     "如需改金额：`posagent correct {completion} --amount 金额`"),
    "what_void_completion": ("void the completion first (`posagent preauth void-completion {completion}`), or "
                             "refund it", "请先撤销完成凭证号 {completion}（预授权完成撤销），或对其退货"),
    "preauth_expired": ("pre-auth trace {trace} of {when} has expired (valid {days} days): the hold is gone and it "
                        "can no longer be completed — charge the customer with a new sale",
                        "预授权凭证号 {trace}（{when}）已过期（有效期 {days} 天）：冻结已解除，不能再完成——请改做消费"),
    "completion_too_large": ("completion of {amount} is more than {percent}% above the pre-auth of {held} (at most "
                             "{ceiling}): complete {ceiling} and charge the rest as a sale",
                             "完成金额 {amount} 超过预授权金额 {held} 的 {percent}%（最多 {ceiling}）：请完成 {ceiling}，"
                             "余额另做消费"),
    "completion_approved": ("Completion approved: {amount} charged on card {card} for pre-auth trace {trace} "
                            "(held {held}; the hold is released).",
                            "预授权完成成功：卡号 {card} 扣款 {amount}（预授权凭证号 {trace}，冻结 {held} 已解除）。"),
    "preauth_void_approved": ("Pre-auth void approved: the hold of {amount} on card {card} is released (trace {trace}).",
                              "预授权撤销成功：卡号 {card} 冻结的 {amount} 已解除（凭证号 {trace}）。"),
    "completion_void_approved": ("Completion void approved: the charge of {amount} (trace {trace}) is cancelled; the "
                                 "pre-auth holds {held} again and can be completed.",
                                 "预授权完成撤销成功：凭证号 {trace} 的 {amount} 扣款已取消；预授权恢复冻结 {held}，可重新完成。"),
    "completion_settled": ("completion trace {trace} is in batch {batch}, settled {when}: it can no longer be voided. "
                           "Refund it instead: `posagent refund --trace {trace}`",
                           "预授权完成凭证号 {trace} 属于批次 {batch}，已于 {when} 结算：不能再撤销，请改用退货: "
                           "`posagent refund --trace {trace}`"),
    "completion_not_voidable": ("completion trace {trace} is {state}: it cannot be voided",
                                "预授权完成凭证号 {trace} 状态为 {state}：不能撤销"),
    "release_lead": ("Releasing the hold of pre-auth trace {trace}.", "解除预授权凭证号 {trace} 的冻结。"),
    "holds_none": ("No open pre-auths: nothing is held on any card.", "没有未完成的预授权：没有卡被冻结。"),
    "holds_count": ("{count} open pre-auth(s), {blocked} still held on cardholders' cards.",
                    "{count} 笔未完成预授权，持卡人卡上仍冻结 {blocked}。"),
    # ---- fixing a completion
    "fix_recomplete": ("Batch open: voiding the completion of {wrong} and completing the pre-auth for the right {right}.",
                     "批次未结算：撤销 {wrong} 的预授权完成，并按正确金额 {right} 重新完成。"),
    "fix_refund_difference": ("Completion overcharged by {amount}: {why}, refunding the difference.",
                            "预授权完成多收 {amount}：{why}，退还差额。"),
    "fix_linked_sale": ("Completion undercharged by {amount}: {why}; collecting the difference as a sale linked to "
                      "completion trace {trace}.",
                      "预授权完成少收 {amount}：{why}；以关联完成凭证号 {trace} 的消费收取差额。"),
    "why_fix_settled": ("the batch is settled", "批次已结算"),
    "why_fix_tolerance": ("the right amount is above the pre-auth's tolerance", "正确金额超出预授权允许范围"),
    "why_fix_refunded": ("it was partly refunded already", "已部分退货"),
    "why_fix_expired": ("the pre-auth has expired", "预授权已过期"),
    # ---- a completion's fix (engine/fixrun.py standing: done / owed / pending per step)
    "fix_done_completion_void": ("Voided the completion of {amount}.", "已撤销 {amount} 的预授权完成。"),
    "fix_done_completion": ("Completed {amount}.", "已完成 {amount}。"),
    "fix_owed_completion_void": ("the completion of {amount} still to void", "尚需撤销 {amount} 的预授权完成"),
    "fix_owed_completion": ("{amount} still to complete", "尚需完成 {amount}"),
    "fix_pending_completion_void": ("the void of the completion of {amount} has no final outcome yet",
                                    "{amount} 的预授权完成撤销结果未明"),
    "fix_pending_completion": ("the completion of {amount} has no final outcome yet", "{amount} 的预授权完成结果未明"),
    "no_preauth_id": ("no pre-auth with id {id} on this terminal", "本终端没有编号为 {id} 的预授权"),
    "hold_not_duplicate": ("pre-auth {id} (trace {trace}) is not a suspected duplicate hold",
                           "预授权 {id}（凭证号 {trace}）不是疑似重复冻结"),
    "dup_hold_void": ("Duplicate hold trace {trace}: releasing it with a pre-auth void.",
                      "重复预授权凭证号 {trace}：以预授权撤销解除冻结。"),
}

PREAUTH_TEXTS.update({
    "advice_pending": ("the completion advice of trace {trace} is not acknowledged yet ({problem}); nothing else "
                       "can be sent until it is — try again in a moment",
                       "凭证号 {trace} 的预授权完成通知尚未得到银行确认（{problem}）；确认前不能发送其他交易——请稍后再试"),
    "advice_queued": ("Completion of {amount} recorded offline for pre-auth trace {trace} (advice trace {advice}): "
                      "it is sent to the bank as soon as it can be reached, and before the settlement.",
                      "预授权完成 {amount} 已离线记录（预授权凭证号 {trace}，通知凭证号 {advice}）：银行可连接时立即发送，"
                      "结算前必定送达。"),
    "advice_declined": ("The bank declined the completion advice of trace {trace}: {reason}. Nothing was charged; "
                        "the pre-auth is open again.",
                        "银行拒绝了凭证号 {trace} 的预授权完成通知：{reason}。未扣款；预授权恢复可用。"),
})
