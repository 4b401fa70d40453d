from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

from tradingops.api.pagination import CheckedCursorMixin


class StrictLimitMixin:
    """A ``limit`` above the maximum is a 400 naming the field, not a silent cap."""

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                value = int(raw)
            except ValueError:
                raise ValidationError({"limit": ["A valid integer is required."]}) from None
            if value < 1 or value > self.max_page_size:
                raise ValidationError({"limit": [f"Must be between 1 and {self.max_page_size}."]})
        return super().get_page_size(request)


class OldestFirstCursorPagination(CheckedCursorMixin, StrictLimitMixin, CursorPagination):
    """Ticks from ``since`` onwards, oldest first; the cursor is the tick time, ties by id."""

    ordering = ("ts", "id")
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000


class SymbolCursorPagination(CheckedCursorMixin, StrictLimitMixin, CursorPagination):
    ordering = ("symbol",)
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500
