from events.realtime import header_state
from market.sources import feed_label
from tradingops.roles import ROLE_ORDER, Role, user_role


def _at_least(role: Role | None, wanted: Role) -> bool:
    return role is not None and ROLE_ORDER.index(role) >= ROLE_ORDER.index(wanted)


def dashboard(request) -> dict:
    """The top bar (mode, kill switch, trading paused, market feed; the same fields every page's socket sends
    as ``header`` frames) and the user's role, for every template.

    ``can_operate`` / ``can_admin`` decide whether action buttons are drawn; the endpoints they
    post to check the same roles again, so hiding a button is never the protection.
    """

    context = {"runtime": header_state(), "feed_label": feed_label()}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        role = user_role(user)
        context.update(role=role, can_operate=_at_least(role, Role.OPERATOR), can_admin=_at_least(role, Role.ADMIN))
    return context
