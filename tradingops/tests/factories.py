"""Users by role. ``UserFactory(role="operator")``; the password is ``pw-<username>`` (what the browser
tests log in with)."""

import factory
from django.conf import settings
from django.contrib.auth.models import Group


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = settings.AUTH_USER_MODEL

    username = factory.Sequence(lambda n: f"user{n}")
    role = None  # "viewer", "operator", "admin" (tradingops.roles.Role), or None for a user without a role

    @classmethod
    def _create(cls, model_class, *, username: str, role: str | None, **extra):
        user = model_class.objects.create_user(username=username, password=f"pw-{username}", **extra)
        if role:
            # get_or_create: transactional tests truncate the groups the migration made
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user
