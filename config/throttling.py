"""Throttles beyond DRF's per-user and per-IP ones: a rate per viewset action for what is
costly or sensitive (creating tokens, posting chat messages, starting runs)."""

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle


class ActionThrottle(ScopedRateThrottle):
    """Throttles the actions a viewset names in `throttle_scopes` ({action: scope}), per
    user (per IP when anonymous), at the scope's rate in DEFAULT_THROTTLE_RATES."""

    def allow_request(self, request: Request, view: Any) -> bool:
        scopes: dict[str, str] = getattr(view, "throttle_scopes", {})
        scope = scopes.get(getattr(view, "action", None) or "")
        if scope is None:
            return True
        view.throttle_scope = scope
        return super().allow_request(request, view)
