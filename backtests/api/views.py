"""Thin views: generics for reads (selector + FilterSet + pagination), one service call per write."""

import inspect
from datetime import datetime

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.engine import PRESETS
from agents.engine.fills import to_decimal
from agents.scorecard import as_json, outcome_groups, rollup
from backtests import selectors, services
from backtests.config import BACKTEST_RISK_DEFAULTS, BacktestConfigSerializer
from backtests.models import BacktestRun, RunStatus
from tradingops import idempotency
from tradingops.api.pagination import NewestFirstCursorPagination
from tradingops.api.permissions import ViewerReadsOperatorWrites
from tradingops.api.views import ChildListView, InputFormMixin

from . import filters, serializers


class RunPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


class SeqPagination(NewestFirstCursorPagination):
    ordering = ("seq",)


class DayPagination(NewestFirstCursorPagination):
    ordering = ("day",)


class RankPagination(PageNumberPagination):
    page_size = 50
    page_query_description = "Page number, from 1 (the best ranked)."
    page_size_query_param = "limit"
    max_page_size = 1000


def _run_or_404(run_id):
    run = selectors.run_get(run_id=run_id)
    if run is None:
        raise Http404("no such backtest run")
    return run


def _conflict(field: str, message: str) -> Response:
    return Response({field: [message]}, status=status.HTTP_409_CONFLICT)


def _not_completed(run) -> Response | None:
    if run.status != RunStatus.COMPLETED:
        detail = f"the run is {run.status}: results exist once it has completed"
        if run.error:
            detail += f" (error: {run.error})"
        return _conflict("status", detail)
    return None


class RunListCreateView(InputFormMixin, ListAPIView):
    """``GET``: runs, newest first (filter by status, time, sweep). ``POST``: start a run (202: it
    is queued); an ``Idempotency-Key`` header makes retries return the run the first request started (200)."""

    input_serializers = {"POST": BacktestConfigSerializer}

    permission_classes = [ViewerReadsOperatorWrites]
    serializer_class = serializers.RunSerializer
    filterset_class = filters.RunFilterSet
    pagination_class = RunPagination

    def get_queryset(self):
        return selectors.run_list()

    @extend_schema(
        request=BacktestConfigSerializer,
        parameters=[idempotency.openapi_parameter()],
        responses={202: serializers.RunSerializer, 200: serializers.RunSerializer},
    )
    def post(self, request):
        key = idempotency.from_request(request, scope="backtests.run")
        # an Invalid config (400 by field) or a reused Idempotency-Key (409) goes to the one exception handler
        try:
            run = services.backtest_run_create(data=request.data, user=request.user, idempotency=key)
            # 202 as for intents: the run is stored and queued, and will be carried out, broker up or down
            code = status.HTTP_202_ACCEPTED
        except idempotency.Replay as replay:
            run, code = selectors.run_get(run_id=replay.resource), status.HTTP_200_OK
        return Response(serializers.RunSerializer(run).data, status=code)


class RunDetailView(RetrieveAPIView):
    serializer_class = serializers.RunSerializer

    def get_object(self):
        return _run_or_404(self.kwargs["pk"])


class RunResultsView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        run = _run_or_404(pk)
        results = run.results
        if results and "block_outcomes" in results:  # paged by /block-outcomes: can be thousands
            results = {k: v for k, v in results.items() if k != "block_outcomes"}
        return _not_completed(run) or Response({"id": str(run.pk), "status": run.status, "results": results})


OUTCOME_FILTERS = ("symbol", "reason", "reason_class", "rule", "exit_reason", "status")


def _outcomes(run, params) -> list[dict]:
    """The run's stored outcomes, filtered by equality and by block time (``since``/``until``)."""
    window = serializers.OutcomeQuerySerializer(data=params)
    window.is_valid(raise_exception=True)
    q = window.validated_data
    rows = (run.results or {}).get("block_outcomes") or []
    wanted = {k: q[k] for k in OUTCOME_FILTERS if q.get(k)}
    if wanted:
        rows = [r for r in rows if all(r.get(k) == v for k, v in wanted.items())]
    if q.get("since") or q.get("until"):
        since, until = q.get("since"), q.get("until")
        rows = [
            r
            for r in rows
            if (since is None or datetime.fromisoformat(r["blocked_at"]) >= since)
            and (until is None or datetime.fromisoformat(r["blocked_at"]) < until)
        ]
    return rows


class RunBlockOutcomesView(APIView):
    """What each blocked entry of the run would have done (its shadow), in the order they closed
    (the still-open ones last, marked at the last close). ``offset``/``limit`` page it."""

    @extend_schema(
        parameters=[serializers.OutcomeQuerySerializer, serializers.OffsetPageSerializer], responses=OpenApiTypes.OBJECT
    )
    def get(self, request, pk):
        run = _run_or_404(pk)
        blocked = _not_completed(run)
        if blocked:
            return blocked
        rows = _outcomes(run, request.query_params)
        page = serializers.OffsetPageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        offset, limit = page.validated_data["offset"], page.validated_data["limit"]
        return Response({"count": len(rows), "offset": offset, "results": rows[offset : offset + limit]})


class RunBlockOutcomesSummaryView(APIView):
    """The run's blocks scorecard (as /live/block-outcomes/summary), over the block times asked."""

    @extend_schema(parameters=[serializers.OutcomeQuerySerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        run = _run_or_404(pk)
        blocked = _not_completed(run)
        if blocked:
            return blocked
        rows = _outcomes(run, request.query_params)
        q = {k: v for k, v in request.query_params.items() if k in ("symbol", "reason", "reason_class")}
        window = serializers.OutcomeQuerySerializer(data=request.query_params)
        window.is_valid(raise_exception=True)
        blocks = selectors.block_counts(
            run_id=run.pk, since=window.validated_data.get("since"), until=window.validated_data.get("until"), **q
        )
        if "rule" in request.query_params or "exit_reason" in request.query_params or "status" in request.query_params:
            blocks = []  # blocks carry none of these: only their shadows can be counted
        card = as_json(rollup(outcome_groups(rows), blocks))
        return Response({"id": str(run.pk), **card})


class RunEquityView(APIView):
    """The equity and drawdown curve, LTTB-downsampled to ``max_points`` (default 1,000). ``t`` are bar
    open times in epoch seconds (UTC), ``equity`` decimal strings, ``drawdown`` fractions (<= 0)."""

    @extend_schema(parameters=[serializers.EquityQuerySerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        query = serializers.EquityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        run = _run_or_404(pk)
        blocked = _not_completed(run)
        if blocked:
            return blocked
        curve = selectors.equity_curve(run_id=run.pk, max_points=query.validated_data["max_points"])
        return Response(
            {
                "id": str(run.pk),
                "bars": curve["bars"],
                "points": len(curve["ts"]),
                "t": curve["ts"].tolist(),
                "equity": [str(to_decimal(v)) for v in curve["equity"].tolist()],
                "drawdown": curve["drawdown"].tolist(),
            }
        )


class _RunChildList(ChildListView):
    parent_param = "run_id"
    parent_missing = "no such backtest run"
    parent_exists = staticmethod(selectors.run_get)


class RunTradesView(_RunChildList):
    serializer_class = serializers.TradeSerializer
    filterset_class = filters.TradeFilterSet
    pagination_class = SeqPagination
    children = staticmethod(selectors.trade_list)


class RunBlocksView(_RunChildList):
    serializer_class = serializers.BlockSerializer
    filterset_class = filters.BlockFilterSet
    pagination_class = SeqPagination
    children = staticmethod(selectors.block_list)


class RunDailyReportsView(_RunChildList):
    serializer_class = serializers.DailyReportSerializer
    filterset_class = filters.DailyReportFilterSet
    pagination_class = DayPagination
    children = staticmethod(selectors.daily_report_list)


class RunStateView(APIView):
    """The portfolio at the close of the bar containing ``at``: stored snapshot + trades since."""

    @extend_schema(parameters=[serializers.StateQuerySerializer], responses=serializers.StateSerializer)
    def get(self, request, pk):
        query = serializers.StateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        run = _run_or_404(pk)
        blocked = _not_completed(run)
        if blocked:
            return blocked
        at = query.validated_data["at"]
        try:
            state = selectors.state_at(run=run, at=at)
        except selectors.StateError as exc:
            return Response({"at": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        data = {**state, "at": at}
        for key in ("cash", "equity", "realized_pnl", "fees_paid"):
            data[key] = str(to_decimal(data[key]))
        data["positions"] = [
            {**pos, **{k: str(to_decimal(pos[k])) for k in ("qty", "entry_price", "mark", "unrealized_pnl")}}
            for pos in state["positions"]
        ]
        return Response(serializers.StateSerializer(data).data)


class RunCancelView(APIView):
    permission_classes = [ViewerReadsOperatorWrites]

    @extend_schema(request=None, responses={202: serializers.RunSerializer})
    def post(self, request, pk):
        _run_or_404(pk)
        run = services.backtest_run_cancel(run_id=pk, user=request.user)  # finished: Conflict naming its status, 409
        return Response(serializers.RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class CompareView(APIView):
    """Metrics side by side and each run's equity curve (``?ids=a,b``)."""

    @extend_schema(parameters=[serializers.CompareQuerySerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        query = serializers.CompareQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ids = query.validated_data["ids"]
        runs = selectors.runs_by_ids(ids)
        missing = sorted({str(i) for i in ids} - {str(r.pk) for r in runs})
        if missing:
            return Response({"ids": [f"no such run: {', '.join(missing)}"]}, status=status.HTTP_400_BAD_REQUEST)
        unfinished = [f"{r.pk} is {r.status}" for r in runs if r.status != RunStatus.COMPLETED]
        if unfinished:
            return Response({"ids": [f"only completed runs compare: {'; '.join(unfinished)}"]}, status=409)
        out = []
        for run in runs:
            curve = selectors.equity_curve(run_id=run.pk, max_points=query.validated_data["max_points"])
            out.append(
                {
                    "id": str(run.pk),
                    "name": run.name,
                    "config": run.config,
                    "results": run.results,
                    "equity": {
                        "t": curve["ts"].tolist(),
                        "equity": [str(to_decimal(v)) for v in curve["equity"].tolist()],
                        "drawdown": curve["drawdown"].tolist(),
                    },
                }
            )
        return Response({"runs": out})


def preset_defaults(name: str) -> dict:

    fields = BacktestConfigSerializer().fields
    build = inspect.signature(PRESETS[name].build).parameters
    return {
        "fee_rate": str(fields["fee_rate"].default),
        "slippage_bps": str(fields["slippage_bps"].default),
        "fill_timing": fields["fill_timing"].default,
        "sizing": {"method": "equity_fraction", "value": "1", "price": fields["sizing"].fields["price"].default},
        "close_at_end": False,
        "stop": build["stop"].default if "stop" in build else None,
        "target": build["target"].default if "target" in build else None,
        "risk": {**BACKTEST_RISK_DEFAULTS, "min_notional": "the instrument's"},
    }


class PresetsView(APIView):
    @extend_schema(responses=serializers.PresetSerializer(many=True))
    def get(self, request):
        return Response(
            [
                {
                    "name": p.name,
                    "description": p.description,
                    "params": [
                        {"name": q.name, "type": q.type.__name__, "default": q.default, "min": q.low, "max": q.high}
                        for q in p.params
                    ],
                    # what a run of this preset uses for every field it leaves out (the form shows the same)
                    "defaults": preset_defaults(p.name),
                }
                for p in PRESETS.values()
            ]
        )


class SweepListCreateView(InputFormMixin, ListAPIView):
    input_serializers = {"POST": serializers.SweepCreateSerializer}

    permission_classes = [ViewerReadsOperatorWrites]
    serializer_class = serializers.SweepSerializer
    filterset_class = filters.SweepFilterSet
    pagination_class = RunPagination

    def get_queryset(self):
        return selectors.sweep_list()

    @extend_schema(
        request=serializers.SweepCreateSerializer,
        parameters=[idempotency.openapi_parameter()],
        responses={202: serializers.SweepSerializer, 200: serializers.SweepSerializer},
    )
    def post(self, request):
        body = serializers.SweepCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key = idempotency.from_request(request, scope="backtests.sweep")
        try:
            sweep_id = services.sweep_create(
                data=data["config"], grid=data["grid"], metric=data["metric"], name=data.get("name"),
                user=request.user, idempotency=key,
            ).pk  # fmt: skip
            code = status.HTTP_202_ACCEPTED
        except idempotency.Replay as replay:
            sweep_id, code = replay.resource, status.HTTP_200_OK
        return Response(serializers.SweepSerializer(selectors.sweep_get(sweep_id=sweep_id)).data, status=code)


class SweepDetailView(RetrieveAPIView):
    serializer_class = serializers.SweepSerializer

    def get_object(self):
        sweep = selectors.sweep_get(sweep_id=self.kwargs["pk"])
        if sweep is None:
            raise Http404("no such sweep")
        return sweep


class SweepResultsView(ListAPIView):
    """The sweep's runs ranked by its metric (or ``?metric=``), best first (``?order=asc`` reverses)."""

    serializer_class = serializers.RankedRunSerializer
    pagination_class = RankPagination

    @extend_schema(
        parameters=[
            serializers.RankQuerySerializer,
            OpenApiParameter("page", int, description=RankPagination.page_query_description),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return BacktestRun.objects.none()
        sweep = selectors.sweep_get(sweep_id=self.kwargs["pk"])
        if sweep is None:
            raise Http404("no such sweep")
        query = serializers.RankQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        metric = query.validated_data.get("metric") or sweep.metric
        return selectors.sweep_ranked_runs(
            sweep_id=sweep.pk, metric=metric, descending=query.validated_data["order"] == "desc"
        )


class RunWhatIfView(InputFormMixin, APIView):
    """What-if on one risk rule: ``POST {"rule", "values"}`` reruns this completed run once per value
    of that limit (a sweep on the backtests queue); ``GET`` lists its what-ifs, newest first, each
    value's final equity, return, trades, blocks, saved/forgone/net beside their change from this run."""

    input_serializers = {"POST": serializers.WhatIfCreateSerializer}
    permission_classes = [ViewerReadsOperatorWrites]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        run = _run_or_404(pk)
        return Response({"id": str(run.pk), "results": selectors.what_if_list(run_id=run.pk)})

    @extend_schema(request=serializers.WhatIfCreateSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        run = _run_or_404(pk)
        body = serializers.WhatIfCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sweep = services.what_if_create(
            run_id=run.pk, rule=body.validated_data["rule"], values=body.validated_data["values"], user=request.user
        )
        sweep = selectors.sweep_list().select_related("base_run").get(pk=sweep.pk)
        return Response(selectors.what_if_table(sweep=sweep), status=201)
