from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and workspaces"

    def ready(self) -> None:
        from accounts.selectors import still_valid
        from realtime import grants

        grants.register_identity(still_valid)
