import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.compiled import CompiledQuery, Slot


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=150, blank=True)
    image = models.URLField(max_length=500, blank=True)

    @property
    def display_name(self) -> str:
        return display_name(self.name, self.first_name, self.last_name, self.username)


# The columns of display_name, in its order.
USER_NAME_COLUMNS = ("name", "first_name", "last_name", "username")


def display_name(name: str, first_name: str, last_name: str, username: str) -> str:
    """What the API calls a user: their name, else their full name, else their username
    (for rows read without a User instance)."""
    return name or f"{first_name} {last_name}".strip() or username


class Role(models.TextChoices):
    """Weakest first; `Role.rank` compares them."""

    VIEWER = "VIEWER"
    STAKEHOLDER = "STAKEHOLDER"
    DEVELOPER = "DEVELOPER"
    PM = "PM"
    ADMIN = "ADMIN"
    OWNER = "OWNER"

    @classmethod
    def rank(cls, role: str) -> int:
        return cls.values.index(role)


def default_features() -> dict[str, bool]:
    return {"taskLogsEnabled": True}


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    features = models.JSONField(default=default_features, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def task_logs_enabled(self) -> bool:
        return task_logs_enabled(self.features)


def task_logs_enabled(features: dict[str, Any]) -> bool:
    """Whether a workspace with these `features` keeps task logs (the deployment's switch
    first)."""
    return settings.TASK_LOGS_ENABLED and bool(features.get("taskLogsEnabled", True))


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.DEVELOPER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_pair")
        ]
        indexes = [models.Index(fields=["user", "workspace"], name="membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} as {self.role}"

    def allows(self, role: str) -> bool:
        return Role.rank(self.role) >= Role.rank(role)


TOKEN_PREFIX = "td_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    # Tokens carry 256 random bits, so one fast hash is enough; no salt needed.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self, now: Any = None) -> "ApiTokenQuerySet":
        """Not revoked, not expired at `now` (default: now; a Slot in _TOKEN_LOOKUP)."""
        now = timezone.now() if now is None else now
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )

    def authenticate(self, raw: str) -> "ApiToken | None":
        """The active token of an active user whose secret is `raw`, with its user loaded;
        its last use stamped (at most once a minute)."""
        if not raw.startswith(TOKEN_PREFIX):
            return None
        found = _TOKEN_LOOKUP.tuples(self.db, token_hash=hash_token(raw), now=timezone.now())
        if not found:
            return None
        row, width = found[0], len(ApiToken._meta.concrete_fields)
        token = ApiToken.from_db(self.db, _attnames(ApiToken), row[:width])
        token.user = User.from_db(self.db, _attnames(User), row[width:])
        token.touch()
        return token


class ApiToken(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, shown in lists.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(
        cls, user: User, name: str, expires_at: datetime | None = None
    ) -> tuple["ApiToken", str]:
        """Creates a token and returns it with its secret, which is never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            prefix=raw[:10],
            token_hash=hash_token(raw),
            expires_at=expires_at,
        )
        return token, raw

    def touch(self) -> None:
        """Stamps last use, at most once a minute, so reads do not write every time."""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _attnames(model: type[models.Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


# Every request's token lookup, compiled once (config.compiled): the token and its user's
# columns in one row, as ApiToken then User declare them (token_hash is unique).
_TOKEN_LOOKUP = CompiledQuery(
    lambda: (
        ApiToken.objects.active(Slot("now", models.DateTimeField()))
        .filter(token_hash=Slot("token_hash", models.CharField()), user__is_active=True)
        .order_by()
        .values_list(*_attnames(ApiToken), *[f"user__{name}" for name in _attnames(User)])
    )
)
