"""The default `cup` dialect: China UnionPay-style POS ISO 8583 (domain notes §1–§3, §5).

BCD MTI, binary primary bitmap, packed-BCD numeric fields with 1-byte (LL) and 2-byte (LLL) BCD
length prefixes, ASCII text (GB18030 in field 63), the CUP ECB MAC in field 64, and framing of a
2-byte length + 5-byte TPDU + 6-byte header.  Rows marked *unconfirmed* in the domain notes (e.g.
the field 62 key layouts) are data here so an acquirer profile can change them.
"""

from agent.iso8583.dialect import Dialect, FieldSpec as F, FrameSpec, ParamDownloadSpec, TcUploadSpec
from agent.iso8583.fields import Bcd, Binary, LengthPrefix, Text, TrackBcd
from agent.iso8583.subfields import KEY_LAYOUTS

LL = LengthPrefix(2, "bcd")
LLL = LengthPrefix(3, "bcd")

FIELDS = {
    2: F("Primary account number", Bcd(19, prefix=LL, pad="right"), "pan"),
    3: F("Processing code", Bcd(6)),
    4: F("Amount, transaction", Bcd(12)),
    11: F("System trace audit number", Bcd(6)),
    12: F("Time, local transaction", Bcd(6)),
    13: F("Date, local transaction", Bcd(4)),
    14: F("Date, expiration", Bcd(4), "hide"),
    15: F("Date, settlement", Bcd(4)),
    22: F("POS entry mode", Bcd(3, pad="right")),
    23: F("Card sequence number", Bcd(3)),
    25: F("POS condition code", Bcd(2)),
    26: F("POS PIN capture code", Bcd(2)),
    32: F("Acquiring institution ID", Bcd(11, prefix=LL, pad="right")),
    35: F("Track 2 data", TrackBcd(37, prefix=LL, pad="right"), "hide"),
    36: F("Track 3 data", TrackBcd(104, prefix=LLL, pad="right"), "hide"),
    37: F("Retrieval reference number", Text(12, kind="an")),
    38: F("Authorisation code", Text(6, kind="an")),
    39: F("Response code", Text(2, kind="an")),
    41: F("Terminal ID", Text(8)),
    42: F("Merchant ID", Text(15)),
    44: F("Additional response data", Text(25, prefix=LL)),
    48: F("Additional data (settlement totals)", Bcd(322, prefix=LLL, pad="right")),
    49: F("Currency code", Text(3, kind="an")),
    52: F("PIN block", Binary(8), "hide"),
    53: F("Security control information", Bcd(16)),
    54: F("Balance amount", Text(20, prefix=LLL)),
    55: F("ICC data", Binary(255, prefix=LLL), "tlv"),
    57: F("Wallet payment code (unconfirmed)", Bcd(30, prefix=LLL, pad="right"), "pan"),
    59: F("Terminal and location data", Text(999, prefix=LLL)),
    60: F("Reserved private (60.1-60.5)", Bcd(17, prefix=LLL, pad="right")),
    61: F("Original message data", Bcd(29, prefix=LLL, pad="right")),
    62: F("Reserved private (working keys)", Binary(512, prefix=LLL), "hide"),
    63: F("Reserved private (card organisation, host text)", Text(163, prefix=LLL, encoding="gb18030")),
    64: F("MAC", Binary(8)),
}

#: the pre-authorization family (预授权) and the offline sale's advice, each a row: kind → (MTI, F3 processing code, F25 condition, 60.1).
#: 60.1 of the completion advice is *unconfirmed* (domain §3): `[preauth] advice_type` overrides it.
MESSAGES = {
    "preauth": ("0100", "030000", "06", "10"),  # 预授权
    "preauth_void": ("0100", "200000", "06", "11"),  # 预授权撤销
    "completion": ("0200", "000000", "06", "20"),  # 预授权完成（请求）
    "completion_void": ("0200", "200000", "06", "21"),  # 预授权完成撤销
    "completion_advice": ("0220", "000000", "06", "24"),  # 预授权完成（通知）, offline advice
    # 离线消费（通知）: a sale approved while the acquirer could not be reached — by the card's TC, or by the
    # merchant's offline limits for a swiped or keyed card (field 22 says which) — told as an advice
    "offline_sale": ("0220", "000000", "00", "30"),
}

#: a request sent again after no answer: the reversal repeat 0401, and the advice repeat — the acquirer's
#: spec is not public for advices (*unconfirmed*): ISO 8583's 0221, as data an acquirer profile can change
REPEATS = {"0400": "0401", "0220": "0221"}

#: IC card TC upload (IC卡交易TC值上送): 0320 as a batch-upload record of an IC transaction (60.1 = 00,
#: 60.3 = 203), the original's processing code, amount, trace, entry mode, card sequence, condition, RRN,
#: auth code and currency, and 55 with the second GENERATE AC's TC (its CDOL2 data: 8A, 91, 95, 9F37)
TC_UPLOAD = TcUploadSpec(mti="0320", tx_type="00", nmc="203", copied=(3, 4, 11, 22, 23, 25, 37, 38, 41, 42, 49))

#: IC card parameter and CA public key download (IC卡参数下载 / IC卡公钥下载), asked for at sign-on.
#: The 60.3 codes are those public CUP-style terminal code uses (query 0820, download 0800, end 0800;
#: status upload 0820); *unconfirmed* against the acquirer's spec, so they are data.  The TLV tags are the
#: PBOC/EMV kernel parameter tags (9F06 RID/AID, 9F22 index, DF02 modulus, DF03 checksum, DF04 exponent,
#: DF05 expiry YYYYMMDD, DF06 hash and DF07 key algorithm; DF01 ASI, 9F08 application version, DF11/DF12/DF13
#: TAC default/online/denial, 9F1B floor limit, DF14 default DDOL, DF15 threshold, DF16 maximum and DF17
#: target percentage).  *Unconfirmed* and chosen here: 97 for the default TDOL, field 48 for the versions
#: (the CUP header's processing-request byte is the acquirer's own signal; its values are not public),
#: DF70-DF72 in the status upload, and the paging of a long list ("2" = more follow, the next query's field 62
#: holding the count received as 3 digits).
PARAM_DOWNLOAD = ParamDownloadSpec(
    steps={"keys_query": ("0820", "372"), "key": ("0800", "370"), "keys_end": ("0800", "371"),
           "aids_query": ("0820", "382"), "aid": ("0800", "380"), "aids_end": ("0800", "381"),
           "status": ("0820", "362")},
    key_tags={"rid": 0x9F06, "index": 0x9F22, "expiry": 0xDF05, "hash_algorithm": 0xDF06,
              "key_algorithm": 0xDF07, "modulus": 0xDF02, "exponent": 0xDF04, "checksum": 0xDF03},
    aid_tags={"aid": 0x9F06, "asi": 0xDF01, "app_version": 0x9F08, "tac_default": 0xDF11, "tac_online": 0xDF12,
              "tac_denial": 0xDF13, "floor_limit": 0x9F1B, "default_ddol": 0xDF14, "threshold": 0xDF15,
              "max_target_percent": 0xDF16, "target_percent": 0xDF17, "default_tdol": 0x97},
    status_tags={"params_version": 0xDF70, "keys_version": 0xDF71, "digest": 0xDF72},
)

DIALECT = Dialect(
    name="cup",
    description="China UnionPay-style POS: BCD numerics, BCD length prefixes, CUP ECB MAC, TPDU + 6-byte header",
    mti="bcd",
    bitmap="binary",
    fields=FIELDS,
    mac_algorithm="cup-ecb",
    mac_classes="124",
    frame=FrameSpec(tpdu_len=5, header_len=6, tpdu_id=0x60, max_frame=8192),
    # sign-on mode (60.3) -> (key length, keys): 001 single DES, 003 double, 004 double + track key
    key_layouts=KEY_LAYOUTS,
    structured={55: "tlv", 48: "48", 60: "60", 61: "61", 62: "62", 63: "63"},
    repeats=REPEATS,
    tc_upload=TC_UPLOAD,
    param_download=PARAM_DOWNLOAD,
)
