from rest_framework.permissions import SAFE_METHODS, BasePermission

from tradingops.roles import Role, has_role


class _RolePermission(BasePermission):
    role: Role

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, self.role)


class IsViewer(_RolePermission):
    """Read access: any user holding a role."""

    role = Role.VIEWER


class IsOperator(_RolePermission):
    role = Role.OPERATOR


class IsAdmin(_RolePermission):
    role = Role.ADMIN


class ViewerReadsOperatorWrites(BasePermission):
    """Safe methods for viewers, everything else for operators."""

    def has_permission(self, request, view) -> bool:
        role = Role.VIEWER if request.method in SAFE_METHODS else Role.OPERATOR
        return has_role(request.user, role)
