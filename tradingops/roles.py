"""The three roles (admin is a superuser or a member of the ``admin`` group), and how a person is named as
the ``source`` of the events they cause."""

from enum import StrEnum

from django.contrib.auth.models import Group, Permission


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


ROLE_ORDER = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]


def user_role(user) -> Role | None:
    """The highest role a user holds, or None for anonymous and role-less users."""
    if not user or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = {group.name for group in user.groups.all()}
    for role in reversed(ROLE_ORDER):
        if role in names:
            return role
    return None


def has_role(user, role: Role) -> bool:
    held = user_role(user)
    return held is not None and ROLE_ORDER.index(held) >= ROLE_ORDER.index(role)


SYSTEM_SOURCE = "system"


def user_source(user) -> str:
    """The ``source`` of an event a person caused: ``user:<username>``; ``system`` without one."""
    return f"user:{user.get_username()}" if user is not None else SYSTEM_SOURCE


# --- The roles in the admin -------------------------------------------------------------------------
# Model permissions per group, matching the API: viewers read everything; operators read everything
# too (their writes in the admin are actions - flatten, replan, reconcile - that call the services,
# which check the role again); admins may change what the services let them change (runtime
# configuration, schedules, instruments, wallets). A staff member who is not a superuser uses the
# admin through these.
PROJECT_APPS = ("events", "market", "agents", "backtests", "wallets", "django_celery_beat")
ROLE_ACTIONS = {
    Role.VIEWER: ("view",),
    Role.OPERATOR: ("view",),
    Role.ADMIN: ("view", "add", "change", "delete"),
}


def sync_role_permissions(**kwargs) -> None:
    """Create the role groups and give them their model permissions (idempotent; runs after every
    migrate, so new models get their permissions without a migration of their own)."""

    permissions = list(
        Permission.objects.filter(content_type__app_label__in=PROJECT_APPS).select_related("content_type")
    )
    for role, actions in ROLE_ACTIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = [p for p in permissions if p.codename.split("_", 1)[0] in actions]
        group.permissions.add(*wanted)
