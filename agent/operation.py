"""What a row of the operation registry is: `Operation` (one operation), its `Arg`s (what the control API
accepts, how the command line spells it), its `Cli` form, and the `ROLES` a row may name.

Apart from `agent.registry`, which holds the rows themselves and what is derived from them: the shape of a
row is read on its own by the control API's checks and the command line's forms, and a row's fields are
easier to look up here than between forty rows.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

ROLES = ("cashier", "supervisor", "technician")


@dataclass(frozen=True)
class Arg:
    """One argument of an operation: what the control API accepts, and how the command line spells it.

    `kind`: "int", "amount" (minor units; decimal text on the command line), "trace", "bool", "text",
    "object", "level", "txn_kind" (a journal kind), "paycode" (a wallet payment code, checked
    by `agent.paycodes.classify` before anything is sent) or "pin" (secret: never echoed, read from
    standard input on the CLI)."""

    kind: str
    required: bool = False
    lo: int = 0
    hi: int = 0
    pattern: str | None = None  # a text argument must match it whole
    expected: str = ""  # how the pattern is described to the caller
    help: str = ""  # the command line's help for its flag
    flag: str = ""  # the command line's flag when it is not --NAME (e.g. --request-id, --yes)
    positional: bool = False  # the command line takes it as a word, not a flag
    secret: bool = False  # never echoed, logged or journaled

    @property
    def is_int(self) -> bool:
        return self.kind in ("int", "amount", "trace")

    def but(self, **changes: Any) -> "Arg":
        from dataclasses import replace
        return replace(self, **changes)



@dataclass(frozen=True)
class Cli:
    """How the command line reaches an operation: `posagent WORDS [POSITIONALS] [--flags]`.

    Operations that share their first word are one subcommand; the operation is chosen by its second
    word (`preauth complete`), else by the flag that only it takes (`sale --code`, `duplicates --fix`),
    else it is the one with neither."""

    words: tuple[str, ...]
    #: flags of this operation only that choose it (its argument flags, or a flag of the CLI alone)
    select: tuple[str, ...] = ()
    #: flags the command line adds that are no argument: flag → help (e.g. --scan: the code from the scanner)
    extra: Mapping[str, str] = field(default_factory=dict)
    #: a function of `agent.daemon.show` that prints the answer for people (default: the outcome and receipts)
    show: str = ""


@dataclass(frozen=True)
class Operation:
    name: str
    summary: str  # one line: the command line's help and the roles table
    handler: str  # "module:function": a plan builder (kind "plan") or a query (kind "query")
    kind: str = "plan"  # "plan": an engine plan under the operation lock; "query": answered at once
    args: Mapping[str, Arg] = field(default_factory=dict)
    role: str = "cashier"  # whose password it needs
    #: `(section, key)` of a setting that, when true, asks the supervisor instead (else the cashier)
    configured_by: tuple[str, str] | None = None
    #: `(argument, values, role)`: with the argument at one of the values, this role suffices
    relaxed: tuple[str, tuple[Any, ...], str] | None = None
    #: `(argument, role)`: with the argument true, this role's password is needed (a sale keyed by hand)
    raised: tuple[str, str] | None = None
    money: bool = False  # can move money: a lost answer is "outcome unknown", never "nothing charged"
    guards: tuple[str, ...] = ()  # the guards it may raise (see `agent.registry.GUARD_ARGS`)
    journaled: bool = False  # journaled by the engine: refused while the journal is damaged
    #: argument groups of which one must be given whole (e.g. a refund names its original by trace, or rrn + date)
    one_of: tuple[tuple[str, ...], ...] = ()
    cancellable: bool = False  # the keypad's CANCEL may stop it while it waits for the customer
    cli: Cli | None = None
    console: bool = False  # the technician's console calls it
    keypad: bool = False  # the cashier's keypad calls it
    #: while the bank cannot be reached and store-and-forward is on (`[offline] enabled`): refused, and the
    #: text that says why — "paycode" (ask for a card or cash) or "wait" (wait for the link); "" goes ahead
    offline: str = ""
    #: a flag argument that, set, lets an operation `offline` refuses go ahead anyway: it queues by design
    #: (a pre-auth completion as an advice is journaled and sent when the bank answers)
    offline_with: str = ""

    def function(self) -> Callable[..., Any]:
        """The function `handler` names, imported on first use (the registry itself imports no layer above)."""
        module, _, name = self.handler.partition(":")
        function: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return function
