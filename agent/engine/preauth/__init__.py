"""The pre-authorization family (预授权): hold, release, complete, void the completion (`plans`), the fixes of
a wrong completion or a hold taken twice (`fixes`), and their texts (`texts`)."""
