from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Time series, newest first. The cursor position is ``ts``; ties fall back to ``-id``."""

    ordering = ("-ts", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000
