from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors, services
from tradingops import idempotency
from tradingops.api.pagination import NewestFirstCursorPagination
from tradingops.api.permissions import IsAdmin, ViewerReadsOperatorWrites
from tradingops.api.views import InputFormMixin

from . import filters
from . import serializers as s


def _window(request, default: timedelta):
    serializer = s.WindowInputSerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    until = serializer.validated_data.get("until") or timezone.now()
    since = serializer.validated_data.get("since") or until - default
    return since, until


class PositionListView(ListAPIView):
    serializer_class = s.PositionSerializer
    pagination_class = None

    @extend_schema(parameters=[OpenApiParameter("open", bool, description="Only open positions.")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.position_list(open_only=self.request.query_params.get("open") in ("1", "true"))


class PortfolioView(APIView):
    @extend_schema(responses=s.PortfolioSerializer)
    def get(self, request):
        return Response(s.PortfolioSerializer(selectors.portfolio_summary()).data)


class OrderListView(ListAPIView):
    serializer_class = s.OrderSerializer
    filterset_class = filters.OrderFilterSet

    def get_queryset(self):
        return selectors.order_list()


class FillListView(ListAPIView):
    serializer_class = s.FillSerializer
    filterset_class = filters.FillFilterSet

    def get_queryset(self):
        return selectors.fill_list()


class TradeListView(ListAPIView):
    """Round trips of the live/paper book, newest opened first: open ones marked to the last price,
    closed ones with their net P&L, % of the entry cost, duration and exit reason."""

    serializer_class = s.TradeSerializer
    filterset_class = filters.TradeFilterSet

    def get_queryset(self):
        return selectors.trade_list()


class EquityListView(ListAPIView):
    """The book's equity over time, one point a minute, newest first."""

    serializer_class = s.EquityPointSerializer
    filterset_class = filters.EquityPointFilterSet

    def get_queryset(self):
        return selectors.equity_point_list()


class BlockListView(ListAPIView):
    serializer_class = s.LiveBlockSerializer
    filterset_class = filters.BlockFilterSet

    def get_queryset(self):
        return selectors.block_list()


class BlockReasonsView(APIView):
    """Blocked trades counted by reason and class over a window (default: the last 24 hours)."""

    @extend_schema(parameters=[s.WindowInputSerializer], responses=s.BlockReasonsSerializer)
    def get(self, request):
        since, until = _window(request, timedelta(hours=24))
        reasons = selectors.block_reason_counts(since=since, until=until)
        by_class: dict[str, int] = {}
        for row in reasons:
            by_class[row["reason_class"]] = by_class.get(row["reason_class"], 0) + row["count"]
        data = {
            "since": since,
            "until": until,
            "total": sum(by_class.values()),
            "by_class": by_class,
            "reasons": reasons,
        }
        return Response(s.BlockReasonsSerializer(data).data)


class BlockOutcomeListView(ListAPIView):
    """Blocked trades' shadows, closed: what taking each would have done."""

    serializer_class = s.BlockOutcomeSerializer
    filterset_class = filters.BlockOutcomeFilterSet

    def get_queryset(self):
        return selectors.block_outcome_list()


class BlockOutcomeOpenView(APIView):
    """Blocks whose shadow is still held: marked P&L at the latest close (status ``open``)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response({"results": selectors.block_outcomes_open()})


class BlockOutcomeSummaryView(APIView):
    """The blocks' scorecard over a window of block times (default: the last 24 hours, as /block-reasons)."""

    @extend_schema(parameters=[s.BlockOutcomeSummaryInputSerializer], responses=s.BlockOutcomeSummarySerializer)
    def get(self, request):
        params = s.BlockOutcomeSummaryInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        until = data.pop("until", None) or timezone.now()
        since = data.pop("since", None) or until - timedelta(hours=24)
        summary = selectors.block_outcome_summary(since=since, until=until, filters=data)
        return Response(s.BlockOutcomeSummarySerializer(summary).data)


class RiskBudgetView(APIView):
    """The risk budget of the day being traded (the newest decided candle's UTC day): claimed, used,
    released, utilisation and the allocations."""

    @extend_schema(responses=s.RiskBudgetSerializer)
    def get(self, request):
        budget = selectors.risk_budget(day=selectors.risk_day_current())
        return Response(s.RiskBudgetSerializer(budget, context={"request": request}).data)


class PositionSnapshotListView(ListAPIView):
    serializer_class = s.PositionSnapshotSerializer
    filterset_class = filters.PositionSnapshotFilterSet

    def get_queryset(self):
        return selectors.position_snapshot_list()


class PlanCursorPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


class PlanListView(InputFormMixin, ListAPIView):
    """Plans, newest first. POST (operator) makes a plan from a preset or a full rule-language plan."""

    input_serializers = {"POST": s.PlanInputSerializer}

    permission_classes = [ViewerReadsOperatorWrites]
    serializer_class = s.PlanSerializer
    filterset_class = filters.PlanFilterSet
    pagination_class = PlanCursorPagination

    def get_queryset(self):
        return selectors.plan_list()

    @extend_schema(
        request=s.PlanInputSerializer,
        parameters=[idempotency.openapi_parameter()],
        responses={201: s.PlanSerializer, 200: s.PlanSerializer},
    )
    def post(self, request):
        serializer = s.PlanInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = idempotency.from_request(request, scope="agents.plan")
        try:
            event = services.plan_submit(user=request.user, idempotency=key, **serializer.validated_data)
            event_id, code = event.event_id, status.HTTP_201_CREATED
        except idempotency.Replay as replay:
            event_id, code = replay.resource, status.HTTP_200_OK
        plan = selectors.plan_list().get(event_id=event_id)
        return Response(s.PlanSerializer(plan, context={"request": request}).data, status=code)


class JudgementListView(ListAPIView):
    serializer_class = s.JudgementSerializer
    filterset_class = filters.JudgementFilterSet

    def get_queryset(self):
        return selectors.judgement_list()


class IntentListCreateView(InputFormMixin, ListAPIView):
    """Operator intents. POST one (operator): pause, resume, flatten, replan, set_risk_multiplier, note."""

    input_serializers = {"POST": s.IntentInputSerializer}

    permission_classes = [ViewerReadsOperatorWrites]
    serializer_class = s.IntentSerializer
    filterset_class = filters.IntentFilterSet

    def get_queryset(self):
        return selectors.intent_list()

    @extend_schema(
        request=s.IntentInputSerializer,
        parameters=[idempotency.openapi_parameter()],
        responses={202: s.IntentSerializer, 200: s.IntentSerializer},
    )
    def post(self, request):
        serializer = s.IntentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = idempotency.from_request(request, scope="agents.intent")
        try:
            event = services.intent_submit(user=request.user, idempotency=key, **serializer.validated_data)
            event_id, code = event.event_id, status.HTTP_202_ACCEPTED
        except idempotency.Replay as replay:
            event_id, code = replay.resource, status.HTTP_200_OK
        intent = selectors.intent_list().get(event_id=event_id)
        return Response(s.IntentSerializer(intent, context={"request": request}).data, status=code)


class LLMCallListView(ListAPIView):
    serializer_class = s.LLMCallSerializer
    filterset_class = filters.LLMCallFilterSet

    def get_queryset(self):
        return selectors.llm_call_list()


class LLMSummaryView(APIView):
    @extend_schema(parameters=[s.WindowInputSerializer], responses=s.LLMSummarySerializer)
    def get(self, request):
        since, until = _window(request, timedelta(hours=24))
        return Response(s.LLMSummarySerializer(selectors.llm_summary(since=since, until=until)).data)


class AgentStatusView(APIView):
    @extend_schema(responses=s.AgentStatusSerializer(many=True))
    def get(self, request):
        return Response(s.AgentStatusSerializer(selectors.agent_status_overview(), many=True).data)


class RuntimeConfigView(InputFormMixin, APIView):
    """Mode, kill switch and risk limits. PATCH changes limits (admin); every change is an event."""

    input_serializers = {"PATCH": s.LimitsInputSerializer}

    def get_permissions(self):
        return [IsAdmin()] if self.request.method not in ("GET", "HEAD", "OPTIONS") else super().get_permissions()

    @extend_schema(responses=s.RuntimeConfigSerializer)
    def get(self, request):
        return Response(s.RuntimeConfigSerializer(selectors.runtime_config_get()).data)

    @extend_schema(request=s.LimitsInputSerializer, responses=s.RuntimeConfigSerializer)
    def patch(self, request):
        serializer = s.LimitsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        reason = changes.pop("reason")
        config = services.runtime_limits_update(user=request.user, changes=changes, reason=reason)
        return Response(s.RuntimeConfigSerializer(config).data)


class ModeView(InputFormMixin, APIView):
    """Switch paper/live (admin). Live needs LIVE_TRADING_ALLOWED, exchange credentials and
    ``confirmation`` equal to the word asked for."""

    input_serializers = {"POST": s.ModeInputSerializer}

    permission_classes = [IsAdmin]

    @extend_schema(responses=s.RuntimeConfigSerializer)
    def get(self, request):
        return Response(s.RuntimeConfigSerializer(selectors.runtime_config_get()).data)

    @extend_schema(request=s.ModeInputSerializer, responses=s.RuntimeConfigSerializer)
    def post(self, request):
        serializer = s.ModeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config = services.runtime_mode_switch(user=request.user, **serializer.validated_data)
        return Response(s.RuntimeConfigSerializer(config).data)


class KillSwitchView(InputFormMixin, APIView):
    input_serializers = {"POST": s.KillSwitchInputSerializer}

    permission_classes = [IsAdmin]

    @extend_schema(responses=s.RuntimeConfigSerializer)
    def get(self, request):
        return Response(s.RuntimeConfigSerializer(selectors.runtime_config_get()).data)

    @extend_schema(request=s.KillSwitchInputSerializer, responses=s.RuntimeConfigSerializer)
    def post(self, request):
        serializer = s.KillSwitchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config = services.kill_switch_set(user=request.user, **serializer.validated_data)
        return Response(s.RuntimeConfigSerializer(config).data)
