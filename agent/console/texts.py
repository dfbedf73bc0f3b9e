"""What the technician's console says, in English and Chinese (`[terminal] language`), one table.

Command names, setting names and what the agent relays (outcomes, open fixes) are not translated here:
the words stay the ones the technician types, and the agent's own texts already follow the language.
"""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    # ---- session
    "press_enter": ("Press Enter to log in.", "按回车键登录。"),
    "password": ("Password: ", "密码："),
    "logged_in": ("Logged in. Type help for the commands, logout to leave.",
                  "已登录。输入 help 查看命令，输入 logout 退出。"),
    "logged_out": ("Logged out.", "已退出。"),
    "cancelled": ("Cancelled.", "已取消。"),
    "locked": ("The console is locked after too many wrong passwords; try again in {minutes} min.",
               "密码错误次数过多，控制台已锁定；请在 {minutes} 分钟后重试。"),
    # ---- help: one line per command (key: its words joined by "_")
    "help.help": ("this list", "本列表"),
    "help.status": ("link, keys, batch, reversal queue, journal, open fixes", "线路、密钥、批次、冲正队列、流水、未完成更正"),
    "help.link_test": ("echo test with the acquirer", "与收单机构的线路测试"),
    "help.echo": ("same as link test", "同 link test"),
    "help.sign-on": ("sign on: new working keys and batch number", "签到：更新工作密钥和批次号"),
    "help.signon": ("same as sign-on", "同 sign-on"),
    "help.config_show": ("settings in effect (secrets: (set))", "当前设置（密钥显示为 (set)）"),
    "help.config_set": ("change and save a setting (secret: asked hidden)", "修改并保存设置（密钥隐藏输入）"),
    "help.journal_tail": ("the last N transactions (default 10)", "最近 N 笔交易（默认 10）"),
    "help.journal_search": ("find by trace, amount, last4, date or rrn", "按凭证号、金额、卡号后四位、日期或参考号查找"),
    "help.reversals": ("the reversal queue", "冲正队列"),
    "help.reversals_retry": ("send pending reversals now", "立即发送待冲正交易"),
    "help.reversals_handled": ("mark one handled (supervisor password)", "标记为已人工处理（需主管密码）"),
    "help.card_test": ("ATR and applications of a card (no PAN)", "读卡测试：ATR 和应用（不显示卡号）"),
    "help.log_level": ("show or change the daemon's log level now", "查看或修改守护进程日志级别"),
    "help.export": ("evidence bundle of a transaction's chain", "导出交易链的证据包"),
    "help.keys_load": ("load the terminal master key as components (hidden)", "分 2 或 3 个分量加载终端主密钥（隐藏输入）"),
    "help.reconcile": ("the acquirer's statement against the journal, to the cent", "按分核对收单机构对账单与流水"),
    "help.logout": ("end the session (or exit, quit, Ctrl-D)", "结束会话（或 exit、quit、Ctrl-D）"),
    "help.exit": ("same as logout", "同 logout"),
    "help.quit": ("same as logout", "同 logout"),
    # ---- status
    "st.link": ("link      {where} {state}{tls}", "线路      {where} {state}{tls}"),
    "st.connected": ("connected", "已连接"), "st.idle": ("idle", "空闲"),
    "st.keys": ("keys      {state} ({kcv})", "密钥      {state}（{kcv}）"),
    "st.installed": ("installed", "已安装"), "st.missing": ("missing: sign on", "缺失：请签到"),
    "st.none": ("none", "无"),
    "st.batch": ("batch     {number:06d} {state}, {count} transaction(s)", "批次      {number:06d} {state}，{count} 笔交易"),
    "st.reversals": ("reversals {pending} pending, {manual} need manual handling",
                     "冲正      {pending} 笔待发送，{manual} 笔需人工处理"),
    "st.journal": ("journal   {in_doubt} in doubt", "流水      {in_doubt} 笔结果未明"),
    "st.settling": (", settlement of batch {batch:06d} in progress", "，批次 {batch:06d} 正在结算"),
    "st.uptime": ("uptime    {seconds:.0f} s", "运行时间  {seconds:.0f} 秒"),
    "st.locked": ("supervisor functions locked for {seconds} s", "主管功能锁定 {seconds} 秒"),
    "st.fixes": ("fixes     {count} open", "更正      {count} 笔未完成"),
    "st.fixes_wait": (": the settlement waits for them", "：结算需等待其完成"),
    "st.fix": ("  chain {id} trace {trace:06d}: {standing}", "  链 {id} 凭证号 {trace:06d}：{standing}"),
}


def say(language: str, key: str, **values: object) -> str:
    english, chinese = TEXTS[key]
    return (chinese if language == "zh" else english).format(**values)
