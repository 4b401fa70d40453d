"""Market API: thin views over selectors; indicators computed in one pass over the fetched bars."""

from datetime import UTC, datetime
from urllib.parse import urlencode

from drf_orjson_renderer.renderers import ORJSONRenderer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from market import indicators, selectors, services, timeframes
from market.models import Tick
from market.presentation import iso
from tradingops.api.permissions import IsAdmin

from .filters import InstrumentFilterSet, TickFilterSet
from .pagination import OldestFirstCursorPagination, SymbolCursorPagination
from .serializers import (
    CandleQuerySerializer,
    InstrumentCreateSerializer,
    InstrumentSerializer,
    SummarySerializer,
    TickQuerySerializer,
    TickSerializer,
)


def _instrument_or_404(symbol: str):
    instrument = selectors.instrument_get(symbol=symbol)
    if instrument is None:
        raise NotFound(f"Unknown symbol '{symbol}'.")
    return instrument


class SymbolListView(generics.ListAPIView):
    """Instruments, by symbol."""

    serializer_class = InstrumentSerializer
    filterset_class = InstrumentFilterSet
    pagination_class = SymbolCursorPagination

    def get_queryset(self):
        return selectors.instrument_list()


class InstrumentCreateView(APIView):
    """Admins add an instrument (then load its candles: ``load_candles`` or the Market page's upload)."""

    permission_classes = [IsAdmin]

    @extend_schema(request=InstrumentCreateSerializer, responses={201: InstrumentSerializer})
    def post(self, request):
        body = InstrumentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        instrument = services.instrument_create(**body.validated_data)  # Invalid 400 / Conflict 409 by field
        return Response(InstrumentSerializer(instrument).data, status=201)


class CandleListView(APIView):
    """OHLCV bars oldest first, with indicator columns (``null`` during warm-up).

    ``start`` given: the first ``limit`` bars from it (``next`` continues after the last). No
    ``start``: the last ``limit`` bars before ``end`` (``previous`` goes back). Indicators are
    computed over enough earlier bars that the first bar returned has its full-history value.
    """

    # orjson: ~10x faster than json for thousands of floats, and NaN becomes null
    renderer_classes = (ORJSONRenderer, BrowsableAPIRenderer)

    @extend_schema(
        parameters=[CandleQuerySerializer],
        responses={200: OpenApiTypes.OBJECT},
        description="`{symbol, timeframe, indicators, candles: [{open_time, open, high, low, close, volume, "
        "<indicator>...}], next, previous}`; decimals as strings, indicators as numbers or null.",
    )
    def get(self, request):
        query = CandleQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        instrument = _instrument_or_404(q["symbol"])
        specs: list[indicators.IndicatorSpec] = q["indicators"]
        warmup = max((indicators.warmup_bars(s) for s in specs), default=0)
        window = selectors.candle_window(
            instrument_id=instrument.pk,
            timeframe=q["timeframe"],
            start=q.get("start"),
            end=q.get("end"),
            limit=q["limit"],
            warmup=warmup,
        )
        bars = window.bars
        count = window.count
        skip = len(bars) - count
        columns: dict[str, list] = {}
        if specs and count:
            ranged = any(s.name in ("atr", "high", "low") for s in specs)  # the others read close only
            c = bars.values["close"]
            h, lo = (bars.values["high"], bars.values["low"]) if ranged else (None, None)
            for spec in specs:
                for name, values in indicators.compute(spec, None, h, lo, c).items():
                    columns[name] = values[skip:].tolist()  # NaN (warm-up) renders as null
        out = bars.tail(count)
        names = ("open_time", "open", "high", "low", "close", "volume", *columns)
        series = [out.times, *(out.text[k] for k in selectors.COLUMNS), *columns.values()]
        results = [dict(zip(names, row)) for row in zip(*series)]  # noqa: B905 - equal lengths by construction
        return Response(
            {
                "symbol": instrument.symbol,
                "timeframe": q["timeframe"],
                "indicators": list(columns),
                "next": self._link(request, window.has_more_after and out, "start", out, q, last=True),
                "previous": self._link(request, window.has_more_before and out, "end", out, q, last=False),
                "results": results,
            }
        )

    @staticmethod
    def _link(request, wanted, param, out, q, *, last: bool):
        if not wanted or not len(out):
            return None
        params = request.query_params.copy()
        if last:
            # the next page starts where the last bar returned ends
            open_time = datetime.fromtimestamp(int(out.epochs[-1]), tz=UTC)
            params[param] = iso(timeframes.bar_end(open_time, q["timeframe"]))
        else:
            params[param] = out.times[0]
            params.pop("start", None)
        return request.build_absolute_uri(request.path) + "?" + urlencode(params, doseq=True)


@extend_schema_view(get=extend_schema(parameters=[TickQuerySerializer]))
class TickListView(generics.ListAPIView):
    """Ticks of one symbol from ``since``, oldest first, cursor-paginated."""

    serializer_class = TickSerializer
    filterset_class = TickFilterSet
    pagination_class = OldestFirstCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request parameters
            return Tick.objects.none()
        query = TickQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        instrument = _instrument_or_404(query.validated_data["symbol"])
        return selectors.tick_list(instrument=instrument).select_related("instrument")


class SummaryView(generics.ListAPIView):
    """Per symbol: last price, 24 h change, high, low and volume (from its finest timeframe)."""

    serializer_class = SummarySerializer
    filterset_class = InstrumentFilterSet
    pagination_class = SymbolCursorPagination

    def get_queryset(self):
        return selectors.instruments_with_last_bars(selectors.instrument_list())

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(SummarySerializer(selectors.summaries(page), many=True).data)
