"""The three roles. Admin is a superuser or a member of the ``admin`` group."""

from enum import StrEnum


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
