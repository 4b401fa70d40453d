from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView


class ApiRootView(APIView):
    """TradingOps API v1. Every endpoint needs a user; OpenAPI docs are at /api/docs/."""

    @extend_schema(exclude=True)
    def get(self, request):
        def link(name):
            return reverse(name, request=request)

        return Response(
            {
                "events": link("events:event-list"),
                "runs": link("events:run-list"),
                "wallets": link("wallets:wallet-list"),
                "reconciliations": link("wallets:reconcile-history"),
                "health": link("events:health"),
                "schema": link("schema"),
                "docs": link("swagger-ui"),
            }
        )
