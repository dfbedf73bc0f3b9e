"""The terminal's keys: the master key loaded as components by two custodians and kept encrypted under the
device key (`load`), and the working keys unwrapped from the sign-on answer, with the MAC, PIN-block and
check-value operations on them (`store`).  See docs/security.md."""
