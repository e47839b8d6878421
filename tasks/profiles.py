"""Which robot configs a caller may store, and what of a config the API shows.

A `command` or `openai` robot names an operator-defined RunnerProfile
(`{"profile": NAME, ...overrides of its declared variables}`). Raw runner fields
(`argv`, `env`, `env_allow`, `base_url`, `api_key_env`, ...) run whatever their author
wrote on the worker, so only staff (the operator) may store them; anyone else gets a
403 with the code RAW_RUNNER_CONFIG and nothing is stored.
"""

import re
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from config.exceptions import Forbidden, invalid
from tasks.models import RunnerKind, RunnerProfile
from tasks.redaction import MASK, redact

RAW_FIELDS = ("argv", "env", "env_allow", "base_url", "api_key_env", "api_key", "secrets")
SECRET_FIELDS = ("secrets", "api_key")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# What the operator sets on a runner profile, in the admin and in load_runner_profiles's
# file (besides its name, its workspaces and its sealed secrets).
PROFILE_FIELDS = (
    "runner",
    "argv",
    "base_url",
    "allowed_base_urls",
    "variables",
    "network",
    "timeout_seconds",
    "cpu_seconds",
    "memory_mb",
    "max_processes",
    "max_open_files",
    "max_output_bytes",
)


def bad_variable_names(variables: Iterable[str]) -> list[str]:
    """A profile's variable names that are not names, or that would set a raw field."""
    return [n for n in variables if not VARIABLE_NAME.fullmatch(n) or n in RAW_FIELDS]


def check_robot_config(user: Any, workspace_id: UUID, runner: str, config: dict[str, Any]) -> None:
    """Raises unless `user` may give a robot of `workspace_id` this runner and config."""
    is_staff = bool(getattr(user, "is_staff", False))
    raw = sorted(field for field in RAW_FIELDS if field in config)
    if raw and not is_staff:
        raise Forbidden(
            "RAW_RUNNER_CONFIG",
            f"Only the operator may set {', '.join(raw)}; name a runner profile instead.",
        )
    if runner == RunnerKind.SCRIPTED:
        return
    if "profile" not in config:
        if is_staff:
            return  # the operator's own raw config
        raise invalid("config", f"A {runner} robot names a runner profile: {{'profile': NAME}}.")
    profile = RunnerProfile.objects.filter(name=str(config["profile"])).first()
    if profile is None or profile.runner != runner or not profile.allows(workspace_id):
        raise invalid(
            "config", f"No {runner} runner profile {config['profile']!r} for this workspace."
        )
    check_overrides(profile, config)


def check_overrides(profile: RunnerProfile, config: dict[str, Any]) -> None:
    undeclared = sorted(k for k in config if k != "profile" and k not in profile.variables)
    if undeclared:
        raise invalid(
            "config",
            f"The profile {profile.name!r} declares no {', '.join(undeclared)}; "
            f"overridable: {', '.join(sorted(profile.variables)) or 'nothing'}.",
        )
    for name, value in config.items():
        if name != "profile" and not isinstance(value, str | int | float | bool):
            raise invalid("config", f"{name} must be a string, number or boolean.")


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """A robot's config as ADMIN+ see it: the profile name and its overrides, or (for the
    operator's raw configs) the fields without their secrets: `env` values, `secrets`
    and `api_key` masked, known secret shapes in the rest redacted."""
    shown: dict[str, Any] = {}
    for name, value in config.items():
        if name in SECRET_FIELDS:
            shown[name] = MASK
        elif name == "env" and isinstance(value, dict):
            shown[name] = {str(key): MASK for key in value}
        else:
            shown[name] = _redacted(value)
    return shown


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


def keep_masked(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """`new` (a config edited from its public form) with every value left at the mask
    taken from `old`: an edit in the admin never writes `****` over a secret."""
    kept = dict(new)
    for name in SECRET_FIELDS:
        if kept.get(name) == MASK and name in old:
            kept[name] = old[name]
    if isinstance(kept.get("env"), dict) and isinstance(old.get("env"), dict):
        kept["env"] = {
            key: old["env"].get(key, value) if value == MASK else value
            for key, value in kept["env"].items()
        }
    return kept
