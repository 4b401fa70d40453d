from django.apps import AppConfig


class TradingOpsConfig(AppConfig):
    """Project-level app: roles (groups) migration and project management commands."""

    name = "tradingops"
    verbose_name = "TradingOps"
