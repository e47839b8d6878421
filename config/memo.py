"""Values remembered until the current transaction ends.

`transaction_memo(name)` is a dict that lives as long as the outermost transaction (or the
savepoint it was first asked for in): it is an on-commit hook that does nothing, so Django
drops it when the transaction commits or rolls back, and with a savepoint rolled back.
Outside a transaction there is nothing to remember in: None. `remembered(name)` only
reads it: None when nothing was remembered under that name.
"""

from django.db import transaction


class TransactionMemo(dict[object, object]):
    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def __call__(self) -> None:  # the on-commit hook: nothing left to do
        self.clear()


def transaction_memo(name: str) -> TransactionMemo | None:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    memo = remembered(name)
    if memo is None:
        memo = TransactionMemo(name)
        transaction.on_commit(memo)
    return memo


def remembered(name: str) -> TransactionMemo | None:
    """What the current transaction remembers under `name`, if anything (a read: no memo
    is started)."""
    for _savepoints, hook, _robust in transaction.get_connection().run_on_commit:
        if isinstance(hook, TransactionMemo) and hook.name == name:
            return hook
    return None


def forget(name: str) -> None:
    """Drops what the current transaction remembers under `name` (its source changed)."""
    memo = remembered(name)
    if memo is not None:
        memo.clear()
