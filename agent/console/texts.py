"""What the technician's console says, in English and Chinese (`[terminal] language`), one table.

Command names, setting names and what the agent relays (outcomes, open fixes) are not translated here:
the words stay the ones the technician types, and the agent's own texts already follow the language.
Every table the console prints and every usage error it gives are here too (`tests/test_texts_language.py`
checks that each key has both languages with the same fields).
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
    "st.damaged": ("JOURNAL DAMAGED: {detail}", "流水已损坏：{detail}"),
    "st.master": ("master key check value {kcv} ({source})", "主密钥校验值 {kcv}（{source}）"),
    "st.fix": ("  chain {id} trace {trace:06d}: {standing}", "  链 {id} 凭证号 {trace:06d}：{standing}"),
}


TEXTS.update({
    # ---- session: errors and timeouts
    "error": ("error: {detail}", "错误：{detail}"),
    "internal": ("internal error ({name}); see the log", "内部错误（{name}）；请查看日志"),
    "idle_out": ("Idle for {minutes:g} min: logged out.", "空闲 {minutes:g} 分钟：已退出。"),
    "login_timeout": ("Login timed out.", "登录超时。"),
    "banner": ("posagent {version} technician console - terminal {terminal} ({merchant})",
               "posagent {version} 技术员控制台 - 终端 {terminal}（{merchant}）"),
    # ---- login refusals in Chinese (in English the password gate's own words are shown)
    "auth.unset": ("no technician password is set: create one with `posagent passwd --role technician` and put "
                   "the hash in the configuration",
                   "未设置技术员密码：请用 `posagent passwd --role technician` 生成，并把散列值写入配置"),
    "auth.locked": ("technician functions are locked after too many wrong passwords; try again in {minutes} min",
                    "密码错误次数过多，技术员功能已锁定；请在 {minutes} 分钟后重试"),
    "auth.now_locked": ("wrong technician password; technician functions are now locked for {minutes} min",
                        "技术员密码错误；技术员功能现已锁定 {minutes} 分钟"),
    "auth.needed": ("this needs the technician password", "需要技术员密码"),
    "auth.wrong": ("wrong technician password ({left} attempt(s) left)", "技术员密码错误（还可尝试 {left} 次）"),
    "no_daemon": ("no answer from the daemon ({detail})", "守护进程无应答（{detail}）"),
    "daemon_refused": ("the daemon refused", "守护进程拒绝了该操作"),
    # ---- tables: column titles, empty tables, notes
    "col.id": ("id", "编号"), "col.time": ("time", "时间"), "col.kind": ("kind", "类型"),
    "col.amount": ("amount", "金额"), "col.state": ("state", "状态"), "col.trace": ("trace", "凭证号"),
    "col.card": ("card", "卡号"), "col.reason": ("reason", "原因"), "col.tries": ("tries", "次数"),
    "col.error": ("last error", "最近错误"), "col.setting": ("setting", "设置项"), "col.value": ("value", "值"),
    "no_transactions": ("no transactions found", "没有找到交易"),
    "rev.empty": ("reversal queue empty", "冲正队列为空"),
    "rev.pending": ("pending", "待发送"), "rev.manual": ("NEEDS MANUAL", "需人工处理"),
    "rev.manual_help": ("For each NEEDS MANUAL: ask the acquirer (give the trace) whether the card was charged; "
                        "refund if it was, then: reversals handled ID REASON",
                        "对每笔“需人工处理”：向收单机构（提供凭证号）核实是否已扣款；如已扣款请退货，然后执行："
                        "reversals handled ID REASON"),
    "cfg.source": ("# source: {source}", "# 来源：{source}"),
    "cfg.defaults": ("built-in defaults", "内置默认值"),
    "cfg.set": ("(set)", "(已设置)"), "cfg.not_set": ("(not set)", "(未设置)"),
    # ---- replies
    "saved": ("saved {what} in {path}; the daemon uses it from its next start",
              "已将 {what} 保存到 {path}；守护进程下次启动时生效"),
    "saved_log": (" (log level LEVEL changes the running daemon now)",
                  "（log level LEVEL 可立即修改运行中守护进程的日志级别）"),
    "log_changed": ("daemon log level {was} -> {level} (until its next start; config set daemon.log_level keeps it)",
                    "守护进程日志级别 {was} -> {level}（下次启动前有效；config set daemon.log_level 可保存）"),
    "log_is": ("daemon log level {level}", "守护进程日志级别 {level}"),
    "rev_handled": ("reversal {id} marked handled (journaled): {note}", "冲正 {id} 已标记为人工处理（已记入流水）：{note}"),
    "retry_said": ("done", "完成"),
    "ask.supervisor": ("Supervisor password (hidden): ", "主管密码（隐藏输入）："),
    "ask.secret": ("New value for {name} (hidden): ", "{name} 的新值（隐藏输入）："),
    "ask.new_password": ("New {role} password (hidden): ", "新的 {role} 密码（隐藏输入）："),
    "ask.again": ("Again: ", "再输入一次："),
    "key.component": ("Component {number} of {count} (hidden): ", "第 {number} 个分量，共 {count} 个（隐藏输入）："),
    "key.form_kcv": ("Check value on component {number}'s form: ", "第 {number} 个分量表格上的校验值："),
    "key.accepted": ("component {number} check value {kcv}: accepted", "第 {number} 个分量校验值 {kcv}：已接受"),
    "key.combined": ("combined key check value {kcv}", "合成密钥校验值 {kcv}"),
    "key.combined_form": ("Check value of the combined key (from the key form): ", "合成密钥的校验值（见密钥表格）："),
    "key.loaded": ("master key loaded (check value {kcv}), stored encrypted in {path}; the daemon uses it from its "
                   "next start, then sign on",
                   "主密钥已加载（校验值 {kcv}），加密保存在 {path}；守护进程下次启动后生效，然后请签到"),
    # ---- usage errors
    "u.usage": ("usage: {usage}", "用法：{usage}"),
    "u.no_args": ("usage: {usage} (no arguments)", "用法：{usage}（不带参数）"),
    "u.cannot_read": ("cannot read that line: {detail}", "无法解析这一行：{detail}"),
    "u.unknown": ("unknown command '{line}'; type help for the list", "未知命令“{line}”；输入 help 查看命令列表"),
    "u.whole": ("{what} must be a whole number from {lo} to {hi}, not '{text}'",
                "{what} 必须是 {lo} 到 {hi} 之间的整数，而不是“{text}”"),
    "u.needs_value": ("{name} needs a value", "{name} 需要一个值"),
    "u.config_set": ("usage: config set SECTION.KEY VALUE (secrets: config set SECTION.KEY, then type it)",
                     "用法：config set SECTION.KEY VALUE（密钥：只输入 config set SECTION.KEY，再隐藏输入值）"),
    "u.defaults_only": ("this console runs on built-in defaults: start it with --config FILE to change settings",
                        "控制台正在使用内置默认设置：请用 --config FILE 启动后再修改设置"),
    "u.secret_inline": ("{name} is secret: type `config set {name}` alone and give the value at the hidden prompt",
                        "{name} 是密钥：只输入 `config set {name}`，再在隐藏提示处输入值"),
    "u.passwords_differ": ("the two passwords differ; nothing was changed", "两次输入的密码不一致；未做任何修改"),
    "u.search": ("usage: journal search trace N | amount 12.00 | last4 1234 | date YYYY-MM-DD | rrn R "
                 "(several may be combined)",
                 "用法：journal search trace N | amount 12.00 | last4 1234 | date YYYY-MM-DD | rrn R（可组合多个）"),
    "u.last4": ("last4 must be 4 digits, not '{value}'", "last4 必须是 4 位数字，而不是“{value}”"),
    "u.amount": ("amount must be an amount like 12.00, not '{value}'", "amount 必须是金额（如 12.00），而不是“{value}”"),
    "u.search_by": ("cannot search by '{name}': use trace, amount, last4, date or rrn",
                    "不能按“{name}”查找：请用 trace、amount、last4、date 或 rrn"),
    "u.handled": ("usage: reversals handled ID REASON (what was done, e.g. \"acquirer confirmed no charge\")",
                  "用法：reversals handled ID REASON（说明处理方式，如 \"收单机构确认未扣款\"）"),
    "u.reason_short": ("say what was done in the REASON (at least 3 characters)", "请在 REASON 中说明处理方式（至少 3 个字符）"),
    "u.no_card_test": ("no card reader test is available here", "此处无法进行读卡测试"),
    "u.export": ("usage: export ID (journal id of any transaction of the chain)",
                 "用法：export ID（交易链中任一笔交易的流水编号）"),
    "u.reconcile": ("usage: reconcile PATH [FORMAT] (the acquirer's statement file; format default posim)",
                    "用法：reconcile PATH [FORMAT]（收单机构对账单文件；格式默认 posim）"),
    "u.keys_load": ("usage: keys load [2|3] (the number of components, 2 if not given)",
                    "用法：keys load [2|3]（分量个数，默认 2）"),
    "u.no_section": ("no section '{section}'; sections: {known}", "没有设置段“{section}”；可用的段：{known}"),
    "u.no_key": ("no key '{name}' in [{section}]; keys: {known}", "[{section}] 中没有设置项“{name}”；可用的项：{known}"),
    "u.bad_bool": ("{name}: expected true or false, got '{text}'", "{name}：应为 true 或 false，而不是“{text}”"),
    "u.unsavable": ("{name}: the value has characters that cannot be saved", "{name}：值中有无法保存的字符"),
    "u.bad_value": ("{detail}", "设置值无效：{detail}"),
    # ---- card test (cardtest.py)
    "ct.no_reader": ("no card reader matches '{pattern}' (card_reader.reader)",
                     "没有与“{pattern}”匹配的读卡器（card_reader.reader）"),
    "ct.failed": ("card test failed: {detail}", "读卡测试失败：{detail}"),
    "ct.reader": ("reader    {reader}", "读卡器    {reader}"),
    "ct.atr": ("ATR       {atr}", "ATR       {atr}"),
    "ct.protocol": ("protocol  {protocol}", "协议      {protocol}"),
    "ct.applications": ("applications", "应用"),
    "ct.no_label": ("(no label)", "(无标签)"),
    "ct.priority": ("priority {priority}", "优先级 {priority}"),
    "ct.confirmation": ("asks cardholder confirmation", "需持卡人确认"),
    "ct.blocked": ("blocked", "已锁定"),
    "ct.none": ("applications  none this terminal supports", "应用      无本终端支持的应用"),
    "ct.ok": ("card test ok: you may remove the card", "读卡测试成功：可以取出卡片"),
    "u.installation": ("{name} is an installation setting: it is changed only in the configuration file at "
                       "installation, not at run time", "{name} 是安装设置：只能在安装时修改配置文件，运行中不能修改"),
    "u.others_password": ("{name} is the {owner}'s password: only the {owner} sets it",
                          "{name} 是 {owner} 的密码：只能由 {owner} 设置"),
    "u.not_technician": ("{name} may not be changed by the technician", "技术员不能修改 {name}"),
    "u.short_password": ("a password needs at least {count} characters", "密码至少需要 {count} 个字符"),
})


def say(language: str, key: str, **values: object) -> str:
    english, chinese = TEXTS[key]
    return (chinese if language == "zh" else english).format(**values)
