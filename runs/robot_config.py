"""What a run of a robot gets: its config resolved through its runner profile.

A robot naming a profile (`config.profile`) runs the profile's argv or endpoint, with the
profile's variables (the robot's overrides of declared ones only), secrets (unsealed here,
in the worker, and nowhere else), network and limits; the profile must still exist, have
the robot's runner, and allow the robot's workspace. A robot without a profile is the
operator's raw config (only staff may store one: tasks.profiles), run with the default
limits and no secrets; the server's environment is never read by name.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from runs.runners import Limits, RunnerConfigError
from tasks import vault
from tasks.models import Robot, RunnerKind, RunnerProfile
from tasks.profiles import check_overrides
from tasks.redaction import robot_secrets

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
OPENAI_OPTIONS = ("model", "system", "temperature")
OPENAI_KEY_NAMES = ("OPENAI_API_KEY", "API_KEY")


@dataclass
class Resolved:
    config: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    network: bool = False
    allowed_base_urls: list[str] = field(default_factory=list)

    raw: bool = False

    def masked(self) -> list[str]:
        """Every literal a run's output must not show: the profile's secrets, and in the
        operator's raw configs also the `env` values (where such configs kept tokens)."""
        env = self.config.get("env") if self.raw else None
        env_values = [str(v) for v in env.values()] if isinstance(env, dict) else []
        return [*robot_secrets(self.config), *self.secrets.values(), *env_values]


def resolve(robot: Robot | None) -> Resolved:
    if robot is None or robot.runner == RunnerKind.SCRIPTED:
        return Resolved(config=dict(robot.config) if robot else {})
    config = dict(robot.config)
    if "profile" not in config:
        return _raw(robot.runner, config)
    profile = RunnerProfile.objects.filter(name=str(config["profile"])).first()
    if profile is None or profile.runner != robot.runner or not profile.allows(robot.workspace_id):
        raise RunnerConfigError(
            f"The runner profile {config['profile']!r} is gone or not allowed for this workspace."
        )
    try:
        check_overrides(profile, config)
        secrets = vault.unseal(profile.secrets_sealed)
    except Exception as error:  # a ValidationError or a key that no longer opens them
        raise RunnerConfigError(f"The robot's profile cannot run: {error}") from None
    variables = {
        name: str(config.get(name, default)) for name, default in profile.variables.items()
    }
    limits = Limits(
        timeout_seconds=profile.timeout_seconds,
        cpu_seconds=profile.cpu_seconds,
        memory_mb=profile.memory_mb,
        max_processes=profile.max_processes,
        max_open_files=profile.max_open_files,
        max_output_bytes=profile.max_output_bytes,
    )
    if profile.runner == RunnerKind.COMMAND:
        argv = [PLACEHOLDER.sub(lambda m: variables.get(m[1], m[0]), a) for a in profile.argv]
        return Resolved({"argv": argv, "env": variables}, secrets, limits, profile.network)
    options: dict[str, Any] = {k: v for k, v in variables.items() if k in OPENAI_OPTIONS}
    if "temperature" in options:
        options["temperature"] = float(options["temperature"])
    key = next((secrets[name] for name in OPENAI_KEY_NAMES if name in secrets), "")
    urls = [profile.base_url, *profile.allowed_base_urls]
    return Resolved(
        {**options, "base_url": profile.base_url, "api_key": key},
        secrets,
        limits,
        network=True,
        allowed_base_urls=[u for u in urls if u],
    )


def _raw(runner: str, config: dict[str, Any]) -> Resolved:
    if "api_key_env" in config:
        raise RunnerConfigError(
            "config.api_key_env is no longer honoured: keys come from a runner profile's "
            "secrets, never from the server's environment."
        )
    limits = Limits(
        timeout_seconds=settings.RUN_TIME_LIMIT_SECONDS,
        cpu_seconds=settings.RUN_CPU_SECONDS,
        memory_mb=settings.RUN_MEMORY_MB,
        max_processes=settings.RUN_MAX_PROCESSES,
        max_open_files=settings.RUN_MAX_OPEN_FILES,
        max_output_bytes=settings.RUN_MAX_OUTPUT_BYTES,
    )
    if runner == RunnerKind.OPENAI:
        base_url = str(config.get("base_url") or settings.OPENAI_BASE_URL)
        # The server-wide key goes to the server-wide endpoint only.
        same = base_url.rstrip("/") == settings.OPENAI_BASE_URL.rstrip("/")
        config = {**config, "base_url": base_url}
        config.setdefault("api_key", settings.OPENAI_API_KEY if same else "")
        return Resolved(config, limits=limits, network=True, allowed_base_urls=[base_url], raw=True)
    return Resolved(config, limits=limits, network=bool(config.get("network", False)), raw=True)
