"""The terminal's EMV kernel, sans-IO: the contact flow over any `exchange(command) -> Response` (`flow`),
its APDUs and transport rule (`apdu`), the data objects, DOLs and terminal action analysis (`data`), offline
data authentication (`oda`), cardholder verification (`cvm`), what a chip read gives the engine and the
second GENERATE AC (`chip`), and the card's failures with their cashier messages (`card_errors`).

No module here talks to a device: the PC/SC reader in `agent.drivers.pcsc` is one `exchange`, the
simulator's virtual card another.  See docs/emv.md."""
