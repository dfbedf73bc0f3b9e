"""`keys load [2|3]`: the technician's key-loading dialogue over the console (hidden components, check values
typed from the component forms, the combined key's check value confirmed); see `agent.keyload`."""

from __future__ import annotations

from agent.console.session import Question, Reply
from agent.console.texts import say
from agent.errors import UsageError
from agent.keyload import MasterKeyFile, MasterKeyLoad, check_value
from agent.keystore import default_key_file


def master_key_file(cfg) -> MasterKeyFile:
    return MasterKeyFile(cfg.path("keys", "tmk_file"), cfg.path("keys", "device_key_file"))


def load_master_key(ctx, args: list[str]) -> Reply:
    language = ctx.cfg.terminal.language
    t = lambda key, **v: say(language, key, **v)  # noqa: E731
    if len(args) > 1 or (args and args[0] not in ("2", "3")):
        raise UsageError(t("u.keys_load"))
    ceremony = MasterKeyLoad(int(args[0]) if args else 2)

    def ask_component(shown: str = "") -> Reply:
        number = ceremony.next_number

        def with_component(component: str) -> Reply:
            def with_check_value(form_value: str) -> Reply:
                actual = ceremony.add(component, form_value)
                shown = t("key.accepted", number=number, kcv=actual)
                return ask_component(shown) if not ceremony.complete else ask_combined(shown)

            return Reply(ask=Question(t("key.form_kcv", number=number), with_check_value))

        return Reply(shown, ask=Question(t("key.component", number=number, count=ceremony.count), with_component,
                                         secret=True))

    def ask_combined(shown: str) -> Reply:
        combined = check_value(ceremony.combined())

        def with_confirmation(form_value: str) -> Reply:
            tmk = ceremony.confirm(form_value)
            kcv = master_key_file(ctx.cfg).store(tmk)
            # working keys arrived encrypted under the old master key: they go, the next sign-on brings new ones
            default_key_file(ctx.cfg).unlink(missing_ok=True)
            ctx.audit("keys_loaded", {"check_value": kcv, "components": ceremony.count, "by": "technician"})
            return Reply(t("key.loaded", kcv=kcv, path=ctx.cfg.path("keys", "tmk_file")))

        return Reply(f"{shown}\n{t('key.combined', kcv=combined)}",
                     ask=Question(t("key.combined_form"), with_confirmation))

    return ask_component()
