from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from tradingops import idempotency
from tradingops.api.pagination import CheckedCursorMixin, NewestFirstCursorPagination
from tradingops.api.permissions import IsAdmin, IsOperator
from tradingops.api.views import ChildListView, InputFormMixin

from .. import selectors, services
from .filters import DriftRecordFilterSet, LedgerEntryFilterSet, ReconciliationRunFilterSet, WalletFilterSet
from .serializers import (
    DriftCorrectInputSerializer,
    DriftRecordSerializer,
    LedgerEntrySerializer,
    ReconcileInputSerializer,
    ReconciliationRunDetailSerializer,
    ReconciliationRunSerializer,
    WalletDetailSerializer,
    WalletSerializer,
)


class WalletPagination(CheckedCursorMixin, CursorPagination):
    ordering = ("id",)
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500


class RunPagination(NewestFirstCursorPagination):
    ordering = ("-started_at", "-id")


class WalletListView(ListAPIView):
    """Wallets with their ledger balances and the drift status of the last reconciliation."""

    serializer_class = WalletSerializer
    filterset_class = WalletFilterSet
    pagination_class = WalletPagination

    def get_queryset(self):
        return selectors.wallet_list()


class WalletDetailView(RetrieveAPIView):
    serializer_class = WalletDetailSerializer

    def get_object(self):
        wallet = selectors.wallet_get(wallet_id=self.kwargs["wallet_id"])
        if wallet is None:
            raise Http404(f"No wallet {self.kwargs['wallet_id']}.")
        return wallet


class _WalletChildList(ChildListView):
    parent_kwarg = parent_param = "wallet_id"
    parent_missing = "No wallet {wallet_id}."
    parent_exists = staticmethod(selectors.wallet_exists)


class WalletTransactionsView(_WalletChildList):
    """The wallet's ledger entries, newest first."""

    serializer_class = LedgerEntrySerializer
    filterset_class = LedgerEntryFilterSet
    children = staticmethod(selectors.ledger_entry_list)


class WalletDriftView(_WalletChildList):
    """The drift time series of a wallet (``?currency=BTC`` for one currency), newest first."""

    serializer_class = DriftRecordSerializer
    filterset_class = DriftRecordFilterSet
    children = staticmethod(selectors.drift_record_list)


class ReconcileView(InputFormMixin, APIView):
    """Reconcile now (operators). One run at a time: while one is going this answers 409.
    With an ``Idempotency-Key`` header a retry returns the first run (200) instead of a new one."""

    input_serializers = {"POST": ReconcileInputSerializer}

    permission_classes = [IsOperator]

    @extend_schema(
        request=ReconcileInputSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False)],
        responses={
            201: ReconciliationRunDetailSerializer,
            200: OpenApiResponse(ReconciliationRunDetailSerializer, "Replayed by Idempotency-Key"),
            409: OpenApiResponse(description="A reconciliation is already running"),
        },
    )
    def post(self, request):
        serializer = ReconcileInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key.strip()) <= 200):
            return Response({"Idempotency-Key": ["Between 1 and 200 characters."]}, status=400)
        outcome = services.wallet_reconcile(
            **serializer.validated_data, user=request.user, idempotency_key=key.strip() if key else None
        )
        run = selectors.reconciliation_run_get(run_id=outcome.run.pk)
        code = status.HTTP_200_OK if outcome.replayed else status.HTTP_201_CREATED
        return Response(ReconciliationRunDetailSerializer(run).data, status=code)


class ReconcileHistoryView(ListAPIView):
    serializer_class = ReconciliationRunSerializer
    filterset_class = ReconciliationRunFilterSet
    pagination_class = RunPagination

    def get_queryset(self):
        return selectors.reconciliation_run_list()


class ReconcileDetailView(RetrieveAPIView):
    serializer_class = ReconciliationRunDetailSerializer

    def get_object(self):
        run = selectors.reconciliation_run_get(run_id=self.kwargs["run_id"])
        if run is None:
            raise Http404(f"No reconciliation {self.kwargs['run_id']}.")
        return run


class DriftCorrectView(InputFormMixin, APIView):
    """Book a drift as an ``adjustment`` so the ledger matches the exchange (admins, with a reason)."""

    input_serializers = {"POST": DriftCorrectInputSerializer}

    permission_classes = [IsAdmin]

    @extend_schema(
        request=DriftCorrectInputSerializer,
        parameters=[idempotency.openapi_parameter()],
        responses={201: LedgerEntrySerializer, 200: LedgerEntrySerializer},
    )
    def post(self, request, drift_id):
        serializer = DriftCorrectInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = idempotency.from_request(request, scope=f"wallets.drift_correct:{drift_id}")
        try:
            entry = services.drift_correct(
                drift_record_id=drift_id, user=request.user, idempotency=key, **serializer.validated_data
            )
        except ObjectDoesNotExist:
            raise Http404(f"No drift record {drift_id}.") from None
        except idempotency.Replay as replay:
            entry = selectors.ledger_entry_get(entry_id=int(replay.resource))
            return Response(LedgerEntrySerializer(entry).data, status=status.HTTP_200_OK)
        return Response(LedgerEntrySerializer(entry).data, status=status.HTTP_201_CREATED)
