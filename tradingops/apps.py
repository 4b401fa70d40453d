from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TradingOpsConfig(AppConfig):
    """Project-level app: roles (groups and their admin permissions) and project management commands."""

    name = "tradingops"
    verbose_name = "TradingOps"

    def ready(self) -> None:
        from .roles import sync_role_permissions

        # Setup, not domain flow: permissions exist only once migrate has created them.
        post_migrate.connect(sync_role_permissions, dispatch_uid="tradingops.sync_role_permissions")
