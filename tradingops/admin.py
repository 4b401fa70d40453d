"""Admin pieces every app shares."""

from django.contrib import admin


class ReadOnlyAdminMixin:
    """Rows written by projectors or services only: the admin shows them and never edits them, since
    an edit through a form would bypass the event log (docs/architecture.md, the write path).

    ``obj`` is optional in each check so that the mixin serves inlines (which pass it) as well as
    model admins (which do not, for ``has_add_permission``)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass
