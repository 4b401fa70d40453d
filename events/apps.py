from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Event store"

    def ready(self) -> None:
        from . import projectors, types  # noqa: F401 - registers the built-in types and projectors
