"""The terminal's side of the merchant's back office: the login and HTTP client that talk to it (`link`: the
shipping secret, TLS against `[office] ca_file`, the cross-till refund question), and the shipper that sends
the journal's hash-chained events in order, resumable from the last one the office acknowledged
(`shipper`).  See docs/office.md."""
