"""Files `run` needs are checked before it starts; a damaged journal page is one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from agent.journal import Journal
from tests.agentproc import ROOT

KEY = b"test-fingerprint-key-0123456789ab"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def write_config(tmp_path, extra: str, daemon: str = "") -> str:
    path = tmp_path / "posagent.toml"
    path.write_text(f'[journal]\npath = "{tmp_path / "journal.db"}"\nfingerprint_key_file = "{tmp_path / "fp.key"}"\n'
                    f'[daemon]\ncontrol_socket = "{tmp_path / "control.sock"}"\n{daemon}'
                    f'[keys]\ntmk_file = "{tmp_path / "tmk.enc"}"\ndevice_key_file = "{tmp_path / "device.key"}"\n'
                    + extra)
    return str(path)


def test_config_check_and_run_name_a_missing_tls_ca_file_in_one_line(tmp_path):
    config = write_config(tmp_path, f'[acquirer]\ntls = true\ntls_ca_file = "{tmp_path / "missing-ca.pem"}"\n')
    check = cli("--config", config, "config", "check")
    assert check.returncode == 1 and f"acquirer.tls_ca_file: {tmp_path / 'missing-ca.pem'} does not exist" in check.stderr
    run = cli("--config", config, "run")
    assert run.returncode == 2 and "acquirer.tls_ca_file" in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_config_check_finds_a_log_directory_that_is_missing_and_a_master_key_that_does_not_open(tmp_path):
    from agent.keys.load import MasterKeyFile
    MasterKeyFile(tmp_path / "tmk.enc", tmp_path / "other-device.key").store(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"))
    config = write_config(tmp_path, f'[console]\nport = "{tmp_path / "no-tty"}"\n',
                          daemon=f'log_file = "{tmp_path / "no-such-dir" / "agent.log"}"\n')
    check = cli("--config", config, "config", "check")
    assert check.returncode == 1
    assert "keys.tmk_file: " in check.stderr and "device key" in check.stderr
    assert "console.port: " in check.stderr
    assert f"daemon.log_file: {tmp_path / 'no-such-dir' / 'agent.log'}: no directory" in check.stderr
    run = cli("--config", config, "run")
    assert run.returncode == 2 and "(and 2 more: posagent config check)" in run.stderr
    (tmp_path / "tmk.enc").unlink()
    ok = cli("--config", write_config(tmp_path, ""), "config", "check")
    assert ok.returncode == 0 and "every file `run` needs is in place" in ok.stdout


def test_a_damaged_journal_page_is_one_line_for_list_and_broken_for_verify(tmp_path):
    path = tmp_path / "journal.db"
    journal = Journal.open(path, fingerprint_key=KEY)
    for i in range(300):
        t = journal.begin("sale", amount=100 + i, currency="156", pan="6226090000000048", entry_mode="051",
                          operator="01", role="cashier", request=lambda trace, batch: {"mti": "0200"})
        journal.complete(t.id, approved=True, response_code="00", rrn=f"{i:012d}", auth_code="A1B2C3",
                         response={"39": "00"})
    journal.close()
    data = bytearray(path.read_bytes())
    page = 1024 if len(data) > 20 * 1024 else 4096
    for offset in range(page * 5, page * 12):
        data[offset] = 0xA5
    path.write_bytes(bytes(data))
    for args in (("journal", "--journal", str(path), "list"), ("journal", "--journal", str(path), "verify")):
        result = cli(*args)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode in (1, 2)
        text = (result.stdout + result.stderr).strip()
        assert len(text.splitlines()) == 1 and ("damaged" in text or "BROKEN" in text or "malformed" in text), text
