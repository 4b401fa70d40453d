from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "wallets"

    def ready(self) -> None:
        from . import event_types

        event_types.register_all()
