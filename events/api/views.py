from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from events import selectors, types
from events.health import system_health
from events.services import MAX_BATCH, EventRejected, client_emit_many
from tradingops.api.pagination import KeysetCursorPagination
from tradingops.api.permissions import ViewerReadsOperatorWrites
from tradingops.api.views import InputFormMixin
from tradingops.errors import Invalid
from tradingops.roles import user_source

from .filters import EventFilterSet, RunSummaryFilterSet
from .serializers import (
    ChainSerializer,
    DecisionPathSerializer,
    EventBatchInputSerializer,
    EventInputSerializer,
    EventOutputSerializer,
    RunSummarySerializer,
)


class EventListCreateView(InputFormMixin, ListAPIView):
    """The event log, newest first (``ordering`` sorts by another column). POST appends one event
    or a batch of up to 1,000."""

    input_serializers = {"POST": EventInputSerializer}

    permission_classes = [ViewerReadsOperatorWrites]
    serializer_class = EventOutputSerializer
    filterset_class = EventFilterSet
    pagination_class = KeysetCursorPagination

    def get_queryset(self):
        return selectors.event_list()

    @extend_schema(
        request=EventInputSerializer,
        responses={201: EventOutputSerializer, 200: OpenApiResponse(EventOutputSerializer, "Already stored")},
        description=(
            f"One event object, or a JSON array of up to {MAX_BATCH} (all or nothing). "
            "A repeated dedupe_key stores nothing new and returns the first event (200). "
            "Clients may post only some types (intent notes, llm_call, run_control of their own runs); "
            "every other type is a fact written by the system. The source is set by the server."
        ),
    )
    def post(self, request):
        many = isinstance(request.data, list)
        if many and len(request.data) > MAX_BATCH:
            raise Invalid(f"A batch holds at most {MAX_BATCH} events; got {len(request.data)}.")
        serializer = EventBatchInputSerializer(data=request.data) if many else EventInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rows = serializer.validated_data if many else [serializer.validated_data]
        try:
            events = client_emit_many(rows, source=user_source(request.user))
        except EventRejected as exc:
            raise EventRejected(exc.errors if many else exc.errors[0]) from None
        created = any(event.created for event in events)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        output = EventOutputSerializer(events, many=True).data if many else EventOutputSerializer(events[0]).data
        return Response(output, status=code)


class EventDetailView(RetrieveAPIView):
    serializer_class = EventOutputSerializer
    lookup_field = "event_id"

    def get_object(self):
        event = selectors.event_get(event_id=self.kwargs["event_id"])
        if event is None:
            raise Http404(f"No event {self.kwargs['event_id']}.")
        return event


class ChainPagination(LimitOffsetPagination):
    """Chains are paged, never silently cut: ``count`` says how many steps there are."""

    default_limit = 200
    max_limit = 1000


class EventChainView(APIView):
    """A correlation chain: every event with this correlation id (a plan's whole life), oldest
    first, each with its cause, paged (``limit``, ``offset``). Heartbeats and marks are left out
    (``hidden_types``) unless ``all=1``. For one fill's or block's own path see
    ``events/{event_id}/chain``."""

    @extend_schema(
        responses=ChainSerializer,
        parameters=[
            OpenApiParameter("all", bool, description="Include heartbeats and marks."),
            OpenApiParameter("limit", int, description="Steps per page (default 200, at most 1,000)."),
            OpenApiParameter("offset", int, description="Steps to skip: the next page starts at offset + limit."),
        ],
    )
    def get(self, request, correlation_id):
        include_all = request.query_params.get("all") in ("1", "true")
        queryset = selectors.correlation_events(correlation_id=correlation_id, include_all=include_all)
        paginator = ChainPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        if not page and not paginator.offset:
            raise Http404(f"No events with correlation id {correlation_id}.")
        events = selectors.attach_causes(list(page))
        return Response(
            ChainSerializer(
                {
                    "correlation_id": correlation_id,
                    "count": paginator.count,
                    "next": paginator.get_next_link(),
                    "previous": paginator.get_previous_link(),
                    "hidden_types": [] if include_all else types.outside_chains(),
                    "events": events,
                }
            ).data
        )


class EventPathView(APIView):
    """One decision's own chain: what led to this event, by causation (intent → plan → judged →
    trigger → order → fill, or → block), and what it led to; heartbeats and marks left out. The
    dashboard's event page shows exactly these steps."""

    @extend_schema(responses=DecisionPathSerializer)
    def get(self, request, event_id):
        event = selectors.event_get(event_id=event_id)
        if event is None:
            raise Http404(f"No event {event_id}.")
        return Response(DecisionPathSerializer(selectors.event_decision_path(event=event)).data)


class RunSummaryPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class RunListView(ListAPIView):
    serializer_class = RunSummarySerializer
    filterset_class = RunSummaryFilterSet
    pagination_class = RunSummaryPagination

    def get_queryset(self):
        return selectors.run_summary_list()


class RunDetailView(RetrieveAPIView):
    serializer_class = RunSummarySerializer

    def get_object(self):
        run = selectors.run_summary_get(run_id=self.kwargs["run_id"])
        if run is None:
            raise Http404(f"No run {self.kwargs['run_id']!r}.")
        return run


class HealthView(APIView):
    """For load balancers, so it needs no credentials and shows no data: 200 while the database
    answers (Redis or Celery trouble is reported as ``degraded``), 503 when it does not."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []  # load balancers poll it from one address

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        report = system_health(embedded=settings.EMBEDDED)
        code = status.HTTP_200_OK if report["database"]["ok"] else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(report, status=code)
