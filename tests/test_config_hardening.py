"""Everything `run` reads is checked by `config check`, and refused by `run` with the same one line.

The CA key file of `[emv] ca_keys` is read with its structure and every key checked (RID/index, modulus
length, a zero or even modulus, exponent 3 or 65537, the checksum); the TLS files are loaded into an
SSL context; every number in the schema is bounded, so no wait can be endless and no NaN gets in —
through `posagent config check` and through the console's `config set`.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import re
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent import config, settings
from agent.console.commands import CommandTable
from agent.console.context import ConsoleContext
from agent.errors import ConfigError, UsageError
from simulator.emvpki import CA_KEYS_FILE
from tests.agentproc import ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def write_config(tmp_path, extra: str) -> str:
    path = tmp_path / "posagent.toml"
    path.write_text(f'[journal]\npath = "{tmp_path / "journal.db"}"\nfingerprint_key_file = "{tmp_path / "fp.key"}"\n'
                    f'[daemon]\ncontrol_socket = "{tmp_path / "control.sock"}"\n'
                    f'[keys]\ntmk_file = "{tmp_path / "tmk.enc"}"\ndevice_key_file = "{tmp_path / "device.key"}"\n'
                    + extra)
    return str(path)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    return lines[0]


def refused_alike(config_file: str, expected: str) -> str:
    """`config check` names the problem in one line; `run` refuses to start with that same line (exit 2)."""
    check = cli("config", "check", config_file)
    assert check.returncode in (1, 2) and expected in one_line(check.stderr), check.stderr
    run = cli("--config", config_file, "run")
    assert run.returncode == 2 and expected in one_line(run.stderr), run.stderr
    assert check.stderr.strip().split(": ", 1)[1] in run.stderr  # the same words, after the program's name
    return one_line(check.stderr)


# -- [emv] ca_keys ----------------------------------------------------------------------------------

RID, INDEX = "A000000333", "08"
GOOD_MODULUS = re.search(r'modulus = "([0-9A-F]+)"', CA_KEYS_FILE.read_text()).group(1)


def ca_entry(modulus: str = GOOD_MODULUS, exponent: str = "03", *, rid: str = RID, index: str = INDEX,
             checksum: str | None = None, extra: str = "") -> str:
    """One `[[key]]` whose checksum matches what it holds (unless given), so only the named defect is wrong."""
    if checksum is None:  # (a field that is not whole bytes fails before the checksum is looked at)
        held = rid + index + modulus + exponent
        checksum = hashlib.sha1(bytes.fromhex(held)).hexdigest().upper() if len(held) % 2 == 0 else "00" * 20
    return (f'[[key]]\nrid = "{rid}"\nindex = "{index}"\nexpiry = "1231"\nexponent = "{exponent}"\n'
            f'modulus = "{modulus}"\nchecksum = "{checksum}"\n{extra}')


BAD_CA_FILES = [
    ("[key]\nrid = \"A000000333\"\n", "key: expected [[key]] tables, got a single [key] table"),
    ('key = "A000000333"\n', "key: expected [[key]] tables, got str"),
    ("key = [1, 2]\n", "key[0]: expected a [[key]] table, got int 1"),
    ("[[keys]]\n", "keys: unknown table (known: [[key]], [[revoked]])"),
    (ca_entry("00" * 128), "key[0].modulus: expected an RSA modulus, got zero (CA key A000000333/08)"),
    (ca_entry("00" + GOOD_MODULUS[2:]), "key[0].modulus: expected a modulus whose first byte is not 00"),
    (ca_entry(GOOD_MODULUS[:-2] + "02"), "key[0].modulus: expected an RSA modulus, got an even number"),
    (ca_entry(GOOD_MODULUS[:64]), "key[0].modulus: expected a modulus of 64 to 248 bytes, got 32"),
    (ca_entry(exponent="05"), "key[0].exponent: expected exponent 03 or 010001 (3 or 65537), got 05"),
    (ca_entry(checksum="00" * 20), "key[0].checksum: checksum does not match RID, index, modulus and exponent"),
    (ca_entry(checksum="00"), "key[0].checksum: expected 20 bytes of hex"),
    (ca_entry(index="8"), "key[0].index: expected 1 bytes of hex"),
    (ca_entry(rid="A0000003"), "key[0].rid: expected 5 bytes of hex"),
    (ca_entry(extra='modulos = "00"\n'), "key[0].modulos: unknown key (known: rid, index, modulus"),
    ("[[key]]\n", "key[0].rid: expected 5 bytes of hex, got nothing"),
    ('[[revoked]]\nrid = "A000000333"\nindex = 8\nserial = "0000FF"\n', "revoked[0].index: expected 1 bytes of hex"),
]


@pytest.mark.parametrize("text, expected", BAD_CA_FILES, ids=[e.split(":")[0] + "-" + str(i)
                                                                  for i, (_, e) in enumerate(BAD_CA_FILES)])
def test_a_bad_ca_key_file_is_one_line_from_config_check_and_from_run(tmp_path, text, expected):
    ca = tmp_path / "ca.toml"
    ca.write_text(text)
    config_file = write_config(tmp_path, f'[emv]\nca_keys = "{ca}"\n')
    line = refused_alike(config_file, f"emv.ca_keys: {ca}: {expected}")
    assert line.startswith(f"{config_file}: emv.ca_keys: {ca}: ")


def test_a_missing_ca_key_file_is_one_line_and_a_good_one_passes(tmp_path):
    refused_alike(write_config(tmp_path, f'[emv]\nca_keys = "{tmp_path / "absent.toml"}"\n'),
                  f"emv.ca_keys: {tmp_path / 'absent.toml'}: cannot read CA keys")
    ca = tmp_path / "ca.toml"
    ca.write_text(ca_entry() + ca_entry(GOOD_MODULUS, "010001", index="09"))
    for ca_keys in (str(CA_KEYS_FILE), str(ca)):
        check = cli("config", "check", write_config(tmp_path, f'[emv]\nca_keys = "{ca_keys}"\n'))
        assert check.returncode == 0, check.stderr


# -- TLS files --------------------------------------------------------------------------------------

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, signer, issuer: str) -> bytes:
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=subject == issuer, path_length=None), critical=True)
            .sign(signer, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _key(key, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


GARBAGE_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"


@pytest.fixture
def tls_files(tmp_path):
    ca_key, client_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    files = {"ca.pem": _cert("test CA", ca_key, ca_key, "test CA"),
             "client.pem": _cert("10000001", client_key, ca_key, "test CA"),
             "client.key": _key(client_key), "other.key": _key(other_key),
             "encrypted.key": _key(client_key, b"secret"), "garbage.pem": GARBAGE_PEM.encode(),
             "empty.pem": b""}
    files["combined.pem"] = files["client.pem"] + files["client.key"]
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return tmp_path


def _tls(tmp_path, ca: str, cert: str = "", key: str = "") -> str:
    lines = ["[acquirer]", "tls = true", f'tls_ca_file = "{tmp_path / ca}"']
    lines += [f'tls_cert_file = "{tmp_path / cert}"'] if cert else []
    lines += [f'tls_key_file = "{tmp_path / key}"'] if key else []
    return write_config(tmp_path, "\n".join(lines) + "\n")


@pytest.mark.parametrize("ca, cert, key, expected", [
    ("garbage.pem", "", "", "acquirer.tls_ca_file: {dir}/garbage.pem: expected PEM CA certificates"),
    ("client.key", "", "", "acquirer.tls_ca_file: {dir}/client.key: expected PEM CA certificates"),
    ("ca.pem", "garbage.pem", "client.key", "acquirer.tls_cert_file: {dir}/garbage.pem: expected a PEM client certificate"),
    ("ca.pem", "client.pem", "other.key", "acquirer.tls_key_file: {dir}/other.key: expected the private key of the "
                                           "certificate in {dir}/client.pem"),
    ("ca.pem", "client.pem", "encrypted.key", "acquirer.tls_key_file: {dir}/encrypted.key: expected an unencrypted "
                                               "private key, the key asks for a passphrase"),
    ("ca.pem", "client.pem", "", "acquirer.tls_cert_file: {dir}/client.pem: expected the certificate followed by "
                                 "its private key"),
])
def test_tls_files_that_do_not_load_into_an_ssl_context_are_one_line(tls_files, ca, cert, key, expected):
    refused_alike(_tls(tls_files, ca, cert, key), expected.format(dir=tls_files))


def test_tls_files_that_load_pass_config_check(tls_files):
    for cert, key in (("", ""), ("client.pem", "client.key"), ("combined.pem", "")):
        check = cli("config", "check", _tls(tls_files, "ca.pem", cert, key))
        assert check.returncode == 0, check.stderr


# -- every number bounded -------------------------------------------------------------------------------

#: the settings that are a length of time, by name; their unit is the name's suffix (seconds otherwise)
DURATION = re.compile(r"timeout|interval|deadline|_seconds$|_minutes$|_hours$|_days$|_ms$")
#: waits that hold the terminal (an operation, a lock, a customer): none may be as long as an hour (the
#: console's idle logout is not one: it ends a technician's session, it holds nothing)
WAIT = re.compile(r"^(?!idle_).*(timeout|interval|deadline)")
SECONDS_PER = {"_ms": 0.001, "_minutes": 60, "_hours": 3600, "_days": 86400}

NUMBERS = [(section, key, setting) for section, keys in settings.SCHEMA.items() for key, setting in keys.items()
           if set(setting.kind if isinstance(setting.kind, tuple) else (setting.kind,)) & {int, float}]
DURATIONS = [(section, key, setting) for section, key, setting in NUMBERS if DURATION.search(key)]
HUGE = {"1e300": 1e300, "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-1": -1, "-0.5": -0.5,
        "10**300": 10 ** 300}


def _unit_seconds(key: str) -> float:
    return next((seconds for suffix, seconds in SECONDS_PER.items() if key.endswith(suffix)), 1)


def test_the_walk_finds_the_durations_it_is_about():
    names = {f"{section}.{key}" for section, key, _ in DURATIONS}
    assert {"wallet.deadline", "wallet.query_interval", "scanner.scan_timeout", "scanner.partial_timeout",
            "acquirer.response_timeout", "guards.duplicate_window_seconds", "console.lockout_minutes"} <= names
    assert all(name in {n for s, k, _ in NUMBERS for n in [f"{s}.{k}"]} for name in names)  # all are numbers


@pytest.mark.parametrize("section, key, setting", NUMBERS, ids=[f"{s}.{k}" for s, k, _ in NUMBERS])
def test_every_number_in_the_schema_is_bounded(section, key, setting):
    assert config.validate_value(section, key, setting.default) == setting.default
    for text, value in HUGE.items():
        with pytest.raises(ConfigError, match=rf"^{section}\.{key}: expected "):
            config.from_mapping({section: {key: value}})


@pytest.mark.parametrize("section, key, setting", [d for d in DURATIONS if WAIT.search(d[1])],
                         ids=[f"{s}.{k}" for s, k, _ in DURATIONS if WAIT.search(k)])
def test_no_wait_can_hold_the_terminal_for_an_hour(section, key, setting):
    an_hour = 3600 / _unit_seconds(key)
    kinds = setting.kind if isinstance(setting.kind, tuple) else (setting.kind,)
    with pytest.raises(ConfigError, match=rf"{section}\.{key}: expected .*at most|{section}\.{key}: .* to "):
        config.validate_value(section, key, float(an_hour) if float in kinds else int(an_hour))


CONFIG_CHECK_CASES = ([(f"{s}.{k}", v) for s, k in (("wallet", "deadline"), ("wallet", "query_interval"),
                                                     ("scanner", "scan_timeout"), ("scanner", "partial_timeout"))
                       for v in ("1e300", "nan", "inf", "-1.5")]
                      + [(f"{s}.{k}", "1e300" if float in (st.kind if isinstance(st.kind, tuple) else (st.kind,))
                          else "1" + "0" * 300) for s, k, st in DURATIONS
                         if k not in ("deadline", "query_interval", "scan_timeout", "partial_timeout")])


@pytest.mark.parametrize("name, text", CONFIG_CHECK_CASES, ids=[f"{n}={t[:6]}" for n, t in CONFIG_CHECK_CASES])
def test_config_check_refuses_endless_and_negative_durations_in_one_line(tmp_path, name, text):
    section, key = name.split(".")
    path = tmp_path / "posagent.toml"
    path.write_text(f"[{section}]\n{key} = {text}\n")
    check = cli("config", "check", str(path))
    assert check.returncode == 2
    line = one_line(check.stderr)
    assert line.startswith(f"posagent: {path}: {name}: expected ")
    assert len(line.split(f"{name}: ", 1)[1]) < 100  # a 300-digit number is not printed whole


def test_an_integer_too_long_to_read_is_one_line(tmp_path):
    path = tmp_path / "posagent.toml"
    path.write_text("[wallet]\ndeadline = 1" + "0" * 5000 + "\n")
    check = cli("config", "check", str(path))
    assert check.returncode == 2 and one_line(check.stderr).startswith(f"posagent: {path}: not valid TOML: ")


@pytest.fixture
def console_cfg(tmp_path):
    path = tmp_path / "posagent.toml"
    path.write_text("[wallet]\ndeadline = 60.0\n")
    return path


@pytest.mark.parametrize("section, key, setting", DURATIONS, ids=[f"{s}.{k}" for s, k, _ in DURATIONS])
def test_the_consoles_config_set_refuses_endless_and_negative_durations(console_cfg, section, key, setting):
    commands = CommandTable(ConsoleContext(client=None, cfg=config.load(console_cfg)))
    try:
        reply = commands.run(f"config set {section}.{key} {config.toml_value(setting.default)}")
        assert f"saved {section}.{key} = " in reply.text
        settable = True
    except UsageError:  # a supervisor's or an installation setting: the technician sets no value of it
        settable = False
    before = console_cfg.read_bytes()
    for text in ("1e300", "nan", "NaN", "inf", "-inf", "-1", "-0.5", "1" + "0" * 300, "1" + "0" * 5000):
        with pytest.raises((ConfigError, UsageError)) as refused:
            commands.run(f"config set {section}.{key} {text}")
        if settable:
            assert str(refused.value).startswith(f"{section}.{key}: expected ") and len(str(refused.value)) < 120
        assert console_cfg.read_bytes() == before
