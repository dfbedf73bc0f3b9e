"""What the technician's console says, in English and Chinese (`[terminal] language`), one table.

Command names, setting names and what the agent relays (outcomes, open fixes) are not translated here:
the words stay the ones the technician types, and the agent's own texts already follow the language.
Every table the console prints and every usage error it gives are here too (`tests/test_texts_language.py`
checks that each key has both languages with the same fields).
"""

from __future__ import annotations

from functools import partial

from agent import catalogue

TEXTS: catalogue.Texts = {
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
    "help.params_download": ("download the chip parameters and CA keys from the acquirer", "从收单机构下载IC卡参数和公钥"),
    "help.params": ("chip parameters in force: version, digest, source", "当前IC卡参数：版本、摘要、来源"),
    "st.params": ("chip params {version} digest {digest} from {source}", "IC卡参数  版本 {version} 摘要 {digest} 来源 {source}"),
    "st.params_staged": ("  download staged: {detail}", "  下载暂存：{detail}"),
    "st.params_source.files": ("the local files", "本地文件"),
    "st.params_source.download": ("the acquirer (downloaded)", "收单机构（已下载）"),
    "st.params_staged_detail": ("download {id}, {keys} keys, {aids} AIDs listed",
                                "下载 {id}，列出公钥 {keys} 个、AID {aids} 个"),
    "st.master_source.loaded": ("loaded", "已加载"), "st.master_source.development key": ("development key", "开发密钥"),
    "help.config_show": ("settings in effect (secrets: (set))", "当前设置（密钥显示为 (set)）"),
    "help.config_set": ("change and save a setting (secret: asked hidden)", "修改并保存设置（密钥隐藏输入）"),
    "help.journal_tail": ("the last N transactions (default 10)", "最近 N 笔交易（默认 10）"),
    "help.journal_search": ("find by trace, amount, last4, date, rrn or kind",
                            "按凭证号、金额、卡号后四位、日期、参考号或类型查找"),
    "help.reversals": ("the reversal queue", "冲正队列"),
    "help.reversals_retry": ("send pending reversals now", "立即发送待冲正交易"),
    "help.reversals_handled": ("mark one handled (supervisor password)", "标记为已人工处理（需主管密码）"),
    "help.card_test": ("ATR and applications of a card (no PAN)", "读卡测试：ATR 和应用（不显示卡号）"),
    "help.log_level": ("show or change the daemon's log level now", "查看或修改守护进程日志级别"),
    "help.export": ("evidence bundle of a transaction's purchase", "导出交易及其关联交易的证据包"),
    "help.keys_load": ("load the terminal master key: each custodian logs in for their component",
                       "加载终端主密钥：每名保管员登录后输入自己的分量"),
    "help.reconcile": ("the acquirer's statement against the journal, to the cent", "按分核对收单机构对账单与流水"),
    "help.logout": ("end the session (or exit, quit, Ctrl-D)", "结束会话（或 exit、quit、Ctrl-D）"),
    "help.exit": ("same as logout", "同 logout"),
    "help.quit": ("same as logout", "同 logout"),
    # ---- status
    "st.link": ("link      {where} {state}{tls}", "线路      {where} {state}{tls}"),
    "st.down": ("down — {reason}", "断开——{reason}"),
    "st.offline": ("offline   {stored} stored, {amount}{declined}", "脱机      已存 {stored} 笔，共 {amount}{declined}"),
    "st.offline_declined": (", {count} declined by the bank after forwarding ({unseen} not yet seen: "
                            "offline declined)", "，上送后被银行拒绝 {count} 笔（{unseen} 笔未查看：offline declined）"),
    "off.none": ("no sale stored offline was declined by the bank", "没有被银行拒绝的脱机交易"),
    "off.seen": ("seen", "已查看"), "off.new": ("NEW", "新"),
    "off.help": ("Each was approved offline (by the card, or a swiped or keyed one by the merchant's limits) and "
                 "stored; the bank refused it when it was forwarded: the "
                 "money was not collected and the merchant bears it — ask the customer for another payment "
                 "(the trace is the receipt's voucher number).",
                 "以上交易脱机时经卡片（刷卡或手工输入的按商户限额）批准并存储，上送时被银行拒绝：款项未收到，损失由商户承担——请联系顾客改用其他方式付款"
                 "（凭证号即签购单上的凭证号）。"),
    "off.acknowledged": ("{count} marked seen (journaled): the keypad's banner for them ends",
                         "{count} 笔已标记为已查看（已记入流水）：收银键盘上的提示随之消失"),
    "col.code": ("code", "应答码"), "col.seen": ("seen", "查看"),
    "help.offline_declined": ("stored sales the bank declined; ack: seen (supervisor)", "被银行拒绝的脱机交易；ack：已查看（主管）"),
    "u.offline_declined": ("usage: offline declined [ack]", "用法：offline declined [ack]"),
    "st.offline_manual": ("          {count} stored sale(s) for {amount} never reached the bank (sealed card does not "
                          "open): need manual handling — offline manual",
                          "          {count} 笔脱机存储交易（共 {amount}）未能上送银行（加密卡号无法解开）：需人工处理——offline manual"),
    "off.manual_none": ("no sale stored offline needs manual handling", "没有需人工处理的脱机存储交易"),
    "off.manual": ("NEEDS MANUAL", "需人工处理"), "col.why": ("why", "原因"),
    "off.manual_help": ("Each was approved offline and stored, but its sealed card does not open, so the bank was never "
                        "told and will not pay for it: contact the acquirer with the receipt (trace, amount, card) to have "
                        "it booked, or ask the customer for another payment; then: offline handled ID NOTE (supervisor).",
                        "以上交易已脱机批准并存储，但加密卡号无法解开，银行从未收到，也不会为其付款：请持签购单（凭证号、金额、卡号）"
                        "联系收单机构补录，或请顾客改用其他方式付款；然后：offline handled ID 说明（主管）。"),
    "off_handled": ("stored sale {id} (trace {trace}) marked handled (journaled): {note}",
                    "脱机存储交易 {id}（凭证号 {trace}）已标记为人工处理（已记入流水）：{note}"),
    "help.offline_manual": ("stored sales the bank was never told of (sealed card does not open)",
                            "未能通知银行的脱机存储交易（加密卡号无法解开）"),
    "help.offline_handled": ("mark one of them handled (supervisor password)", "标记为已人工处理（需主管密码）"),
    "u.offline_handled": ("usage: offline handled ID NOTE (what was done, e.g. \"acquirer booked it by phone\")",
                          "用法：offline handled ID 说明（所做处理，如\"收单机构已电话补录\"）"),
    "help.offline": ("switch the terminal offline by hand, or back (supervisor)", "手动切换为脱机或恢复联机（主管）"),
    "u.offline_switch": ("usage: offline on|off (the supervisor switches the terminal offline, or back)",
                         "用法：offline on|off（主管切换为脱机或恢复联机）"),
    "st.switched": ("down — switched offline by the supervisor at {at} (offline off: back online)",
                    "断开——主管于 {at} 切换为脱机（offline off：恢复联机）"),
    "st.no_tls": ("notice    link not encrypted (TLS off)", "注意      线路未加密（TLS 未开启）"),
    "st.connected": ("connected", "已连接"), "st.idle": ("idle", "空闲"),
    "st.keys": ("keys      {state} ({kcv})", "密钥      {state}（{kcv}）"),
    "st.installed": ("installed", "已安装"), "st.missing": ("missing: sign on", "缺失：请签到"),
    "st.none": ("none", "无"),
    "st.batch": ("batch     {number:06d} {state}, {count} transaction(s)", "批次      {number:06d} {state}，{count} 笔交易"),
    "st.advices": ("advices {pending} waiting for the bank's answer", "通知 {pending} 笔等待银行应答"),
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
    "st.fix": ("  fix {id} trace {trace:06d}: {standing}", "  修正 {id} 凭证号 {trace:06d}：{standing}"),
}


TEXTS.update({
    # ---- session: errors and timeouts
    "error": ("error: {detail}", "错误：{detail}"),
    "internal": ("internal error ({name}); see the log", "内部错误（{name}）；请查看日志"),
    "idle_out": ("Idle for {minutes:g} min: logged out.", "空闲 {minutes:g} 分钟：已退出。"),
    "login_timeout": ("Login timed out.", "登录超时。"),
    "banner": ("posagent {version} technician console - terminal {terminal} ({merchant})",
               "posagent {version} 技术员控制台 - 终端 {terminal}（{merchant}）"),
    # (login refusals are the password gate's own, in both languages: agent.auth.TEXTS)
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
    "key.dual": ("Master key load under dual control: {count} key custodians, each logs in for their own component.",
                 "双人控制下加载主密钥：{count} 名密钥保管员，各自登录输入自己的分量。"),
    "key.custodian_password": ("Key custodian {number} ({role}) password (hidden): ",
                               "密钥保管员 {number}（{role}）密码（隐藏输入）："),
    "key.custodian_in": ("{role} logged in for component {number}", "{role} 已登录，输入第 {number} 个分量"),
    "key.hand_over": ("{role}: note your check value, log off by pressing Enter, and hand over to {next}: ",
                      "{role}：请记下校验值，按回车键退出，交给 {next}："),
    "key.no_custodian": ("dual control: no password is set for {role}: create one with `posagent passwd --role {role}` "
                         "and put the line in the configuration",
                         "双人控制：{role} 未设置密码：请用 `posagent passwd --role {role}` 生成，并把该行写入配置"),
    "key.same_hash": ("dual control: {first} and {second} have the same password entry: each custodian needs their own",
                      "双人控制：{first} 与 {second} 的密码条目相同：每名保管员须有自己的密码"),
    "key.one_person": ("this password also opens {other}'s login: one person would hold two components; refused, "
                       "nothing was stored",
                       "该密码也能登录 {other}：一人将持有两个分量；已拒绝，未保存任何内容"),
    "key.stopped": ("{detail}; the key load stopped, nothing was stored", "{detail}；密钥加载已停止，未保存任何内容"),
    "key.component": ("Component {number} of {count} (hidden): ", "第 {number} 个分量，共 {count} 个（隐藏输入）："),
    "key.form_kcv": ("Check value on component {number}'s form: ", "第 {number} 个分量表格上的校验值："),
    "key.accepted": ("component {number} check value {kcv}: accepted", "第 {number} 个分量校验值 {kcv}：已接受"),
    "key.combined": ("combined key check value {kcv}", "合成密钥校验值 {kcv}"),
    "key.combined_form": ("Check value of the combined key (from the key form): ", "合成密钥的校验值（见密钥表格）："),
    "key.loaded": ("master key loaded (check value {kcv}), stored encrypted in {path}; the daemon uses it from its "
                   "next start, then sign on (the previous key is kept until that sign-on succeeds)",
                   "主密钥已加载（校验值 {kcv}），加密保存在 {path}；守护进程下次启动后生效，然后请签到"
                   "（签到成功前保留原密钥）"),
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
    "u.search": ("usage: journal search trace N | amount 12.00 | last4 1234 | date YYYY-MM-DD | rrn R | kind K "
                 "(several may be combined)",
                 "用法：journal search trace N | amount 12.00 | last4 1234 | date YYYY-MM-DD | rrn R | kind K（可组合多个）"),
    "u.kind": ("kind must be one of {kinds}, not '{value}'", "kind 必须是 {kinds} 之一，而不是“{value}”"),
    "u.last4": ("last4 must be 4 digits, not '{value}'", "last4 必须是 4 位数字，而不是“{value}”"),
    "u.date": ("date must be a day as YYYY-MM-DD, not '{value}'", "date 必须是 YYYY-MM-DD 格式的日期，而不是“{value}”"),
    "u.rrn": ("rrn must be up to 12 letters or digits, not '{value}'", "rrn 必须是最多 12 位字母或数字，而不是“{value}”"),
    "u.amount": ("amount must be an amount like 12.00, not '{value}'", "amount 必须是金额（如 12.00），而不是“{value}”"),
    "u.search_by": ("cannot search by '{name}': use trace, amount, last4, date, rrn or kind",
                    "不能按“{name}”查找：请用 trace、amount、last4、date、rrn 或 kind"),
    "u.handled": ("usage: reversals handled ID REASON (what was done, e.g. \"acquirer confirmed no charge\")",
                  "用法：reversals handled ID REASON（说明处理方式，如 \"收单机构确认未扣款\"）"),
    "u.reason_short": ("say what was done in the REASON (at least 3 characters)", "请在 REASON 中说明处理方式（至少 3 个字符）"),
    "u.no_card_test": ("no card reader test is available here", "此处无法进行读卡测试"),
    "u.export": ("usage: export ID (journal id of any transaction of the purchase)",
                 "用法：export ID（原交易或其任一关联交易的流水编号）"),
    "u.reconcile": ("usage: reconcile NAME [FORMAT] (a statement of the statements directory; format default posim)",
                    "用法：reconcile NAME [FORMAT]（对账单目录中的对账单文件名；格式默认 posim）"),
    "u.keys_load": ("usage: keys load (no arguments: two key custodians each enter one component)",
                    "用法：keys load（不带参数：两名密钥保管员各输入一个分量）"),
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
    "ct.params_unknown": ("chip params: unknown (the daemon is not running)", "IC卡参数：未知（守护进程未运行）"),
    "ct.ok": ("card test ok: you may remove the card", "读卡测试成功：可以取出卡片"),
    "u.installation": ("{name} is an installation setting: it is changed only in the configuration file at "
                       "installation, not at run time", "{name} 是安装设置：只能在安装时修改配置文件，运行中不能修改"),
    "u.others_password": ("{name} is the {owner}'s password: only the {owner} sets it",
                          "{name} 是 {owner} 的密码：只能由 {owner} 设置"),
    "u.not_technician": ("{name} may not be changed by the technician", "技术员不能修改 {name}"),
    "u.short_password": ("a password needs at least {count} characters", "密码至少需要 {count} 个字符"),
})


TEXTS.update({
    # ---- without the daemon (offline.py), the master key waiting for its first sign-on, starting the daemon
    "help.keys_restore-previous": ("the master key before the last keys load, back", "恢复上次 keys load 前的主密钥"),
    "help.daemon_start": ("start the daemon (if [console] may_start_daemon)", "启动守护进程（需 [console] may_start_daemon）"),
    "help.daemon_restart": ("stop and start the daemon (if [console] may_start_daemon)",
                            "重启守护进程（需 [console] may_start_daemon）"),
    "daemon_down": ("the daemon is not running: read from the journal file (read-only)",
                    "守护进程未运行：以下内容直接读自流水文件（只读）"),
    "daemon_no_answer": ("the daemon did not say it started; see the log", "守护进程未报告启动；请查看日志"),
    "daemon_started": ("daemon started (pid {pid}) and answering", "守护进程已启动（pid {pid}），应答正常"),
    "u.may_not_start": ("this installation does not let the console start the daemon ([console] may_start_daemon "
                        "is false): ask whoever runs the terminal's services",
                        "本安装不允许控制台启动守护进程（[console] may_start_daemon 为 false）：请联系终端服务的管理人员"),
    "u.daemon_running": ("the daemon is already running (daemon restart stops and starts it)",
                         "守护进程已在运行（daemon restart 可将其重启）"),
    "st.daemon_down": ("daemon    NOT RUNNING{settling}", "守护进程  未运行{settling}"),
    "st.last_txn": ("last      transaction at {at}", "最近交易  {at}"),
    "st.master_waiting": ("master key in force {previous}; waiting {waiting}: in force once a sign-on under it "
                          "succeeds (keys restore-previous goes back)",
                          "主密钥 当前有效 {previous}；待生效 {waiting}：在其下签到成功后生效（keys restore-previous 可恢复）"),
    "st.development": ("{kcv} (development key)", "{kcv}（开发密钥）"),
    "key.rejected": ("The acquirer rejected the keys under the newly loaded master key {waiting}: it does not know that "
                     "key. The previous master key {previous} is kept. To go back: keys restore-previous, restart the "
                     "daemon, sign-on. Or load the right key again: keys load.",
                     "收单机构拒绝了新加载主密钥 {waiting} 下的工作密钥：银行不认识该密钥。原主密钥 {previous} 仍保留。"
                     "恢复方法：keys restore-previous，重启守护进程，再 sign-on；或用 keys load 重新加载正确的密钥。"),
    "key.restored": ("master key {kcv} is back in force (journaled); {waiting} is set aside. The daemon uses it from "
                     "its next start: restart it, then sign-on",
                     "主密钥 {kcv} 已恢复生效（已记入流水）；{waiting} 已弃用。守护进程下次启动时生效：请重启，然后 sign-on"),
    "u.no_previous": ("no previous master key is kept: the key on file is the one in force",
                      "没有保留原主密钥：当前文件中的密钥即为有效密钥"),
    "u.minor_units": ("{name} is in minor units (fen): {example} for {amount}, not '{text}'",
                      "{name} 以最小货币单位（分）计：{amount} 应输入 {example}，而不是“{text}”"),
})


#: the console's words for `key` in `language`, its fields filled in: `say(language, key, **values)`
say = partial(catalogue.say, TEXTS)
