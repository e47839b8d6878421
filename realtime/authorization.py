"""Who may listen to which channel. Realtime imports no domain app: the apps that own
a channel family register a resolver here (tasks registers `task-` and `workspace-`
in its AppConfig.ready), and the auth endpoint and the replay ask `may_listen`."""

from collections.abc import Callable
from typing import Any

from realtime.protocol import PRIVATE_PREFIX

Resolver = Callable[[Any, str], bool]

_resolvers: dict[str, Resolver] = {}


def register(prefix: str, resolver: Resolver) -> None:
    """`resolver(user, rest_of_name) -> bool` decides for channels named `prefix...`
    (with or without `private-` in front)."""
    _resolvers[prefix] = resolver


def may_listen(user: Any, channel: str) -> bool:
    name = channel.removeprefix(PRIVATE_PREFIX)
    for prefix, resolver in _resolvers.items():
        if name.startswith(prefix):
            return bool(resolver(user, name[len(prefix) :]))
    return False  # a channel nobody owns is nobody's to listen to
