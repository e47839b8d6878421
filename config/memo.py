"""Values remembered until the current transaction ends.

`transaction_memo(name)` is a dict that lives as long as the outermost transaction (or the
savepoint it was first asked for in): it is an on-commit hook that does nothing, so Django
drops it when the transaction commits or rolls back, and with a savepoint rolled back.
Outside a transaction there is nothing to remember in: None.
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
    for _savepoints, hook, _robust in connection.run_on_commit:
        if isinstance(hook, TransactionMemo) and hook.name == name:
            return hook
    memo = TransactionMemo(name)
    transaction.on_commit(memo)
    return memo


def forget(name: str) -> None:
    """Drops what the current transaction remembers under `name` (its source changed)."""
    connection = transaction.get_connection()
    for _savepoints, hook, _robust in connection.run_on_commit:
        if isinstance(hook, TransactionMemo) and hook.name == name:
            hook.clear()
