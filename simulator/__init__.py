"""The software world posagent is tested against: acquirer host, virtual EMV card, cashier."""
