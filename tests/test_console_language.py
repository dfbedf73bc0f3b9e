"""The technician console speaks `[terminal] language` everywhere: its tables, its replies and its usage
errors.  A real pty (socat) session in Chinese against a real daemon and the simulator host, plus the
text table itself (every key the console uses present, each text translated) and the column rule (sized
to content, a Chinese character counted as two columns)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from agent import config
from agent.console import configedit, views
from agent.console.cardtest import render as card_report
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.console.texts import TEXTS, say
from agent.errors import ConfigError, UsageError
from agent.engine.receipts import display_width

CONSOLE = Path(__file__).resolve().parent.parent / "agent" / "console"
#: the same in both languages on purpose (a technical token)
SAME = {"ct.atr"}


# ---------------------------------------------------------------- the text table (its shape and fields:
# tests/test_catalogues.py, with every other catalogue's)

def test_every_console_text_is_translated():
    for key, (english, chinese) in TEXTS.items():
        if key not in SAME:
            assert english != chinese, f"{key} is not translated"


def _keys_used() -> set[str]:
    """Every literal text key the console's code asks for: say(lang, "k"), self._say("k"), t("k")."""
    used = set()
    pattern = re.compile(r"""(?:\bsay\([a-z_.]+,\s*|\b_say\(|\bt\()["']([a-z_.A-Z0-9-]+)["'][,)]""")
    for path in CONSOLE.glob("*.py"):
        used |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return used


def test_every_key_the_console_uses_exists_in_both_languages():
    used = _keys_used()
    assert len(used) > 60, "the scan found too few keys: the pattern no longer matches the code"
    missing = sorted(used - TEXTS.keys())
    assert not missing, f"console text keys used but not in the table: {missing}"
    for key in used:
        english, chinese = TEXTS[key]
        assert english and chinese


def test_no_console_usage_error_is_a_fixed_english_string():
    """Usage errors come from the table (so they follow the language); only `posagent console`'s own
    command-line errors, printed on the shell before any session, stay in English."""
    for path in CONSOLE.glob("*.py"):
        if path.name == "cli.py":
            continue
        literal = re.findall(r"UsageError\(f?[\"']", path.read_text(encoding="utf-8"))
        assert not literal, f"{path.name}: a usage error not from the text table"


# ---------------------------------------------------------------- columns sized to content

CELL = st.text(alphabet=st.sampled_from("ab1-.*消费撤销退货成功冲正中"), min_size=1, max_size=8)


def _starts(line: str) -> list[tuple[int, int]]:
    """(display column where a word starts, where it ends) for each space-separated word of a line."""
    spans, column, start = [], 0, None
    for ch in line + " ":
        if ch == " ":
            if start is not None:
                spans.append((start, column))
                start = None
        elif start is None:
            start = column
        column += display_width(ch) if ch != " " else 1
    return spans


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=5).flatmap(
    lambda n: st.lists(st.tuples(*[CELL] * n), min_size=1, max_size=6)),
    st.sets(st.integers(min_value=0, max_value=4)))
def test_columns_line_up_in_display_columns_and_are_as_wide_as_their_widest_cell(rows, right):
    lines = views.columns(rows, right=tuple(right))
    widths = [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row, line in zip(rows, lines):
        spans = _starts(line)
        assert [line_word for line_word in line.split()] == list(row)
        for i, (start, stop) in enumerate(spans):
            column_start = sum(widths[:i]) + i
            if i in right:
                assert stop == column_start + widths[i], (row, line)
            else:
                assert start == column_start, (row, line)
        assert display_width(line) <= sum(widths) + len(widths) - 1


TXNS = [{"id": 7, "created_at": 1_790_000_000.0, "kind": "sale", "amount": 1234, "state": "approved", "trace": 5,
         "pan_masked": "622609******0048"},
        {"id": 12, "created_at": 1_790_000_060.0, "kind": "refund", "amount": 100, "state": "refunded_partially",
         "trace": 16, "pan_masked": None}]


def test_the_transaction_table_in_chinese_names_kinds_and_states_and_lines_up():
    text = views.transactions(TXNS, 2, "zh")
    lines = text.splitlines()
    assert lines[0].split() == ["编号", "时间", "类型", "金额", "状态", "凭证号", "卡号"]
    assert "消费" in lines[1] and "成功" in lines[1] and "****0048" in lines[1]
    assert "退货" in lines[2] and "部分退货" in lines[2]
    # the amount column is right-aligned in display columns on every line
    ends = {display_width(line[:line.index(amount) + len(amount)])
            for line, amount in zip(lines, ("金额", "12.34", "1.00"))}
    assert len(ends) == 1
    assert "approved" not in text and "sale" not in text
    assert views.transactions([], 2, "zh") == "没有找到交易"


def test_the_english_table_is_sized_to_its_content():
    lines = views.transactions(TXNS[:1], 2, "en").splitlines()
    assert lines[0].startswith("id time") and lines[1].startswith(" 7 ")  # "id" is the widest id cell
    assert max(len(line) for line in lines) < 80


def test_the_reversal_queue_in_chinese():
    queue = {"pending": [{"id": 3, "trace": 9, "reason": "98", "tries": 1, "last_error": None}],
             "needs_manual": [{"id": 4, "trace": 10, "reason": "A0", "tries": 12, "last_error": "timeout"}]}
    text = views.reversals(queue, "zh")
    assert "待发送" in text and "需人工处理" in text and "收单机构" in text
    assert "pending" not in text and "NEEDS MANUAL" not in text
    assert views.reversals({"pending": [], "needs_manual": []}, "zh") == "冲正队列为空"


def test_the_card_report_in_chinese():
    class App:
        def __init__(self, aid, label, priority, confirm):
            self.aid, self.label, self.priority, self.needs_confirmation = bytes.fromhex(aid), label, priority, confirm

    text = card_report("Virtual PCD 00 00", bytes.fromhex("3B8F80"), "T=1",
                       [App("A0000003330101", "UnionPay Debit", 1, False), App("A0000003330102", "", 0, True)],
                       [bytes.fromhex("A0000000031010")], "zh")
    assert "读卡器" in text and "协议" in text and "优先级 1" in text and "需持卡人确认" in text
    assert "(无标签)" in text and "已锁定" in text and "读卡测试成功" in text
    assert "priority" not in text and "blocked" not in text


# ---------------------------------------------------------------- usage errors through the command table

@pytest.fixture
def zh_table(tmp_path) -> CommandTable:
    path = tmp_path / "posagent.toml"
    path.write_text('[terminal]\nlanguage = "zh"\n')
    return CommandTable(ConsoleContext(client=None, cfg=config.load(path)))


@pytest.mark.parametrize("line, chinese", [
    ("journal tail x", "N 必须是 1 到 200 之间的整数"),
    ("journal tail 1 2", "用法：journal tail [N]"),
    ("journal search", "用法：journal search"),
    ("journal search last4 12", "last4 必须是 4 位数字"),
    ("journal search amount x1", "amount 必须是金额"),
    ("journal search colour red", "不能按“colour”查找"),
    ("journal search date 2026-13-01", "date 必须是 YYYY-MM-DD 格式的日期"),
    ("journal search date yesterday", "而不是“yesterday”"),
    ("journal search rrn 1234567890123", "rrn 必须是最多 12 位字母或数字"),
    ("journal search trace", "trace 需要一个值"),
    ("journal search kind holds", "kind 必须是 sale, correction"),
    ("status now", "（不带参数）"),
    ("config show nosuch", "没有设置段“nosuch”"),
    ("config set acquirer.prot 1", "[acquirer] 中没有设置项“prot”"),
    ("config set", "用法：config set"),
    ("config set console.password_hash x", "是密钥"),
    ("config set acquirer.tls true", "是安装设置"),
    ("config set supervisor.password_hash", "只能由 supervisor 设置"),
    ("config set acquirer.reversal_retries 0", "设置值无效：acquirer.reversal_retries"),
    ("reversals handled 1", "用法：reversals handled"),
    ("reversals handled 1 ok", "至少 3 个字符"),
    ("log level LOUD", "用法：log level"),
    ("export", "用法：export ID"),
    ("reconcile", "用法：reconcile NAME"),
    ("keys load 4", "用法：keys load"),
    ("card test 0", "SECONDS 必须是"),
    ("frobnicate", "未知命令“frobnicate”"),
    ('journal search "x', "无法解析这一行"),
])
def test_usage_errors_speak_chinese(zh_table, line, chinese):
    with pytest.raises((UsageError, ConfigError)) as raised:
        zh_table.run(line)
    message = str(raised.value)
    assert chinese in message, message
    assert "usage" not in message and "must be" not in message


def test_a_bad_setting_value_is_refused_in_chinese_naming_the_key(zh_table):
    with pytest.raises(ConfigError, match="设置值无效：acquirer.port"):
        configedit.parse_typed("acquirer", "port", "0", "zh")
    assert "# 来源：内置默认值" in configedit.show(config.from_mapping({}), "keys", "zh")
    assert "(未设置)" in configedit.show(config.from_mapping({}), "console", "zh")
    with pytest.raises(UsageError, match="应为 true 或 false"):
        configedit.parse_typed("acquirer", "tls", "maybe", "zh")


def test_every_help_line_fits_eighty_columns_in_chinese(zh_table):
    for line in zh_table.run("help").text.splitlines():
        assert display_width(line) <= 80, line


def test_say_refuses_an_unknown_key():
    with pytest.raises(KeyError):
        say("zh", "no.such.key")


# ---------------------------------------------------------------- a real session over a pty, in Chinese

@pytest.mark.realstack
def test_a_chinese_console_session_over_a_real_pty(tmp_path, sim_host, pty_pair):
    from tests.agentproc import start_agent
    from tests.test_console_serial import TECH_HASH, TECH_PASSWORD, Console, Person

    agent = start_agent(tmp_path, sim_host.port,
                        extra=f'[console]\npassword_hash = "{TECH_HASH}"\n[terminal]\nlanguage = "zh"\n')
    line = Person(pty_pair.b)
    console = None
    try:
        for amount in ("12.34", "1234.56"):
            sale = agent.cli("sale", amount, "--card", "debit")
            assert sale.returncode == 0, sale.stderr
        console = Console(agent.config, pty_pair.a)
        assert "技术员控制台 - 终端 10000001" in line.expect("按回车键登录。")
        line.type("\r")
        line.expect("密码：")
        line.type("not-the-password\r")
        assert "技术员密码错误（还可尝试 4 次）" in line.expect("密码：")
        line.type(TECH_PASSWORD + "\r")
        assert "已登录" in line.expect("posagent 10000001> ")

        tail = line.command("journal tail 5").splitlines()
        header = next(i for i, row in enumerate(tail) if row.startswith("编号"))
        table = tail[header:header + 3]
        assert table[0].split() == ["编号", "时间", "类型", "金额", "状态", "凭证号", "卡号"]
        assert all("消费" in row and "成功" in row and "****0048" in row for row in table[1:])
        # columns line up in display columns: the amounts end where the 金额 title ends
        big = "1,234.56" if "1,234.56" in table[1] else "1234.56"  # newest first, as journal list
        ends = {display_width(row[:row.index(word) + len(word)]) for row, word in zip(table, ("金额", big, "12.34"))}
        assert len(ends) == 1, table

        assert line.command("reversals").splitlines()[1] == "冲正队列为空"
        shown = line.command("config show terminal")
        assert "# 来源：" in shown and re.search(r"^terminal\.language +=  *\"zh\"", shown, re.M)
        assert "错误：N 必须是 1 到 200 之间的整数" in line.command("journal tail 0")
        assert "错误：用法：journal tail [N]" in line.command("journal tail 1 2")
        assert "错误：未知命令“frobnicate”；输入 help 查看命令列表" in line.command("frobnicate")
        assert "错误：设置值无效：acquirer.reversal_retries" in line.command("config set acquirer.reversal_retries 0")
        assert "本列表" in line.command("help")
        line.type("logout\r")
        assert "已退出。" in line.expect("按回车键登录。")
        screen = line.seen.decode("utf-8", "replace")
        for english in ("usage:", "error:", "Logged in", "no transactions", "reversal queue empty", "# source"):
            assert english not in screen, english
    finally:
        if console is not None:
            console.stop()
        line.close()
        agent.stop()


class _NoDaemon:
    def call(self, op, args, password=None):
        raise OSError("daemon down")


def _zh_session(tmp_path, password_hash: str):
    from agent.console.app import build_session

    path = tmp_path / "posagent.toml"
    path.write_text(f'[terminal]\nlanguage = "zh"\n[journal]\npath = "{tmp_path / "journal.db"}"\n'
                    f'[console]\npassword_hash = "{password_hash}"\nmax_attempts = 2\n')
    return build_session(config.load(path), _NoDaemon(), idle_timeout_s=600)


def test_login_refusals_speak_chinese(tmp_path):
    from agent.auth import hash_password

    session = _zh_session(tmp_path, hash_password("right-one"))
    assert "技术员控制台" in session.start(0.0).decode()
    session.receive(b"\r", 1.0)
    assert "技术员密码错误（还可尝试 1 次）" in session.receive(b"wrong-1\r", 2.0).decode()
    assert "技术员功能现已锁定 30 分钟" in session.receive(b"wrong-2\r", 3.0).decode()
    assert "分钟后重试" in session.receive(b"\r", 4.0).decode()


def test_a_console_without_a_technician_password_says_how_to_set_one_in_chinese(tmp_path):
    session = _zh_session(tmp_path, "")
    session.start(0.0)
    session.receive(b"\r", 1.0)
    shown = session.receive(b"anything\r", 2.0).decode()
    assert "未设置技术员密码" in shown and "posagent passwd --role technician" in shown
