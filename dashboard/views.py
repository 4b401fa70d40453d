"""Server-rendered pages. Each renders its initial state with the log position it was read at
(``last_id``); static/js/live.js then subscribes from that position, so nothing falls between the
render and the socket."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db.models import Prefetch
from django.forms.utils import ErrorDict
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request

from agents import selectors as agent_selectors
from agents import services as agent_services
from agents.api.filters import TradeFilterSet
from backtests import presentation
from backtests import selectors as backtest_selectors
from backtests import services as backtest_services
from backtests.api.serializers import BlockSerializer, CompareQuerySerializer, DailyReportSerializer, TradeSerializer
from backtests.config import RISK_FIELDS
from backtests.models import RunStatus
from events import formatting, types
from events import selectors as event_selectors
from events.presentation import event_to_dict
from market import selectors as market_selectors
from market import timeframes
from market.api.serializers import CandleQuerySerializer
from tradingops.api.pagination import KeysetCursorPagination, NewestFirstCursorPagination
from tradingops.errors import Conflict, Invalid
from tradingops.roles import Role, has_role
from wallets import selectors as wallet_selectors
from wallets import services as wallet_services
from wallets.models import Wallet, WalletBalance

from . import market_upload, selectors
from .actions import ActionView, error_text
from .backtest_form import BacktestForm
from .filters import DecisionFilterSet
from .forms import KillSwitchForm, ModeForm, OperatorIntentForm, OperatorNoteForm, WhatIfForm
from .presentation import display_items, event_row, payload_items

OVERVIEW_LIVE_TYPES = [
    "fill",
    "trade_blocked",
    "block_outcome",
    "position_update",
    "reconciliation_completed",
    "marks_updated",
    "risk_claimed",
    "risk_released",
    "agent_run",
]
WALLETS_SHOWN = 200


class RolePageMixin(LoginRequiredMixin):
    """Login required (anonymous: redirect to the login page); then the role, as in the API."""

    role = Role.VIEWER

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not has_role(request.user, self.role):
            raise PermissionDenied(f"This page needs the {self.role} role.")
        return super().dispatch(request, *args, **kwargs)


# Refused actions: post/redirect/get. The form's data and errors wait in the session and the
# Overview shows them in place, so the page stays at "/" (its live refresh keeps working; F5
# does not post again).
ACTION_FORMS = {"intent_form": OperatorIntentForm, "kill_form": KillSwitchForm, "mode_form": ModeForm}
SECRET_FIELDS = frozenset({"confirmation"})


def _refused(request, key: str, form):
    data = {name: value for name, value in request.POST.items() if name != "csrfmiddlewaretoken"}
    errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
    for name in SECRET_FIELDS:
        data.pop(name, None)  # a typed confirmation is typed again, never pre-filled
    request.session[f"refused:{key}"] = {"data": data, "errors": errors}
    return redirect(reverse("dashboard:overview") + "#h-state")


def _refused_forms(request) -> dict:
    forms = {}
    for key, form_class in ACTION_FORMS.items():
        stored = request.session.pop(f"refused:{key}", None)
        if stored is None:
            continue
        # Shown as refused, not validated again: the typed confirmation is not kept.
        form = form_class(stored["data"])
        form.cleaned_data = {}
        form._errors = ErrorDict(
            {
                field if field in form.fields else NON_FIELD_ERRORS: form.error_class(messages_)
                for field, messages_ in stored["errors"].items()
            }
        )
        forms[key] = form
    return forms


CLOSED_TRADES_SHOWN = 10
SCORECARD_WINDOW = timedelta(hours=24)  # the default window of /api/v1/live/block-outcomes/summary
BOOK_QUOTE = "USDT"  # the paper book's cash currency (settings.PAPER_INITIAL_CASH is in it)


def _overview(request, *, forms: dict | None = None, status: int = 200):
    last_id = event_selectors.event_last_id()
    now = timezone.now()
    equity = agent_selectors.equity_curve()
    context = {
        "trades": agent_selectors.trades_overview(closed=CLOSED_TRADES_SHOWN),
        "closed_shown": CLOSED_TRADES_SHOWN,
        "equity_points": [{"ts": p.ts.isoformat(), "equity": str(p.equity), "pnl": str(p.pnl)} for p in equity],
        "equity_quote": BOOK_QUOTE,
        "equity_places": formatting.money_places(BOOK_QUOTE),
        "scorecard": agent_selectors.block_outcome_summary(since=now - SCORECARD_WINDOW, until=now),
        "scorecard_hours": int(SCORECARD_WINDOW.total_seconds() // 3600),
        "scorecard_quote": BOOK_QUOTE,
        "last_id": last_id,
        "fills": selectors.latest_events(event_type="fill", limit=10),
        "blocks": selectors.block_reasons(),
        "runs": list(event_selectors.run_summary_list()[:10]),
        "live_types": ",".join(OVERVIEW_LIVE_TYPES),
        "reconciliation": wallet_selectors.reconciliation_run_latest(),
        "portfolio": agent_selectors.portfolio_summary(),
        "positions": list(agent_selectors.position_list(open_only=True)),
        "risk": agent_selectors.risk_budget(day=agent_selectors.risk_day_current()),
        "agents": agent_selectors.agent_status_overview(),
        "intent_form": OperatorIntentForm(),
        "kill_form": KillSwitchForm(),
        "mode_form": ModeForm(),
        **(forms or {}),
    }
    return render(request, "dashboard/overview.html", context, status=status)


class OverviewView(RolePageMixin, View):
    def get(self, request):
        return _overview(request, forms=_refused_forms(request))


class OverviewActionView(RolePageMixin, ActionView):
    """An action of the Overview's forms: refused, its form comes back on the Overview with the
    errors in place (post/redirect/get)."""

    form_key: str

    def refused(self, request, form, error):
        return _refused(request, self.form_key, form)


class OperatorIntentView(OverviewActionView):
    """Operators: pause, resume, flatten, replan, risk multiplier, through ``intent_submit`` like the API."""

    role = Role.OPERATOR
    form_class = OperatorIntentForm
    form_key = "intent_form"

    def act(self, request, form):
        data = form.cleaned_data
        params = {"multiplier": str(data["multiplier"])} if data["action"] == "set_risk_multiplier" else {}
        event = agent_services.intent_submit(
            user=request.user, action=data["action"], symbol=data["symbol"], params=params, note=data["note"]
        )
        messages.success(
            request, f"{data['action'].replace('_', ' ').capitalize()} requested (intent {event.event_id})."
        )
        return redirect(reverse("dashboard:overview"))


class KillSwitchView(OverviewActionView):
    role = Role.ADMIN
    form_class = KillSwitchForm
    form_key = "kill_form"

    def act(self, request, form):
        agent_services.kill_switch_set(
            user=request.user, engaged=form.cleaned_data["engaged"], reason=form.cleaned_data["reason"]
        )
        messages.success(request, f"Kill switch {'engaged' if form.cleaned_data['engaged'] else 'released'}.")
        return redirect(reverse("dashboard:overview"))


class ModeView(OverviewActionView):
    role = Role.ADMIN
    form_class = ModeForm
    form_key = "mode_form"

    def act(self, request, form):
        agent_services.runtime_mode_switch(user=request.user, **form.cleaned_data)
        messages.success(request, f"Mode is now {form.cleaned_data['mode']}.")
        return redirect(reverse("dashboard:overview"))


class DecisionPagination(KeysetCursorPagination):
    page_size = 50
    max_page_size = 200


DEFAULT_ORDERING = "-time"
# The table's sortable columns: header text -> the ordering name (events.selectors.EVENT_ORDERINGS).
SORTABLE_COLUMNS = [("Time (UTC)", "time"), ("Type", "type"), ("Symbol", "symbol"), ("Run", "run")]


def _sort_headers(request, ordering: str) -> list[dict]:
    """Each sortable column's header: the link that sorts by it (descending first for time,
    ascending first otherwise, then the other way), and its ``aria-sort``."""
    headers = []
    for label, name in SORTABLE_COLUMNS:
        current = ordering.lstrip("-") == name
        descending = ordering.startswith("-")
        if current:
            target = name if descending else f"-{name}"
        else:
            target = f"-{name}" if name == "time" else name
        query = request.GET.copy()
        query.pop("cursor", None)
        if target == DEFAULT_ORDERING:
            query.pop("ordering", None)
        else:
            query["ordering"] = target
        headers.append(
            {
                "label": label,
                "name": name,
                "href": "?" + query.urlencode(),
                "sort": ("descending" if descending else "ascending") if current else "none",
            }
        )
    return headers


def _decisions_context(request, note_form: OperatorNoteForm | None = None) -> tuple[dict, int]:
    # Read the log position first: an event stored between this read and the page query shows up
    # twice (page and socket replay) and the page drops the repeat by id; none is lost.
    last_id = event_selectors.event_last_id()
    filterset = DecisionFilterSet(request.GET, queryset=event_selectors.event_list())
    # The page opens on decisions: heartbeats and marks (types outside chains) only when asked for,
    # by ticking "show heartbeats" or by choosing their type.
    show_noise = request.GET.get("noise") == "1" or bool(set(request.GET.getlist("type")) & set(types.outside_chains()))
    hidden_types = [] if show_noise else types.outside_chains()
    rows, next_link, previous_link = [], None, None
    valid = filterset.is_valid()
    if valid:
        paginator = DecisionPagination()
        queryset = filterset.qs.exclude(type__in=hidden_types) if hidden_types else filterset.qs
        try:
            page = paginator.paginate_queryset(queryset, Request(request))
        except DRFValidationError as error:  # a forged cursor: shown like a bad filter
            filterset.form.add_error(None, "; ".join(str(m) for m in error.detail.get("cursor", [])))
            valid, page = False, []
        else:
            next_link, previous_link = paginator.get_next_link(), paginator.get_previous_link()
        rows = [event_row(event_to_dict(event)) for event in page]
    data = filterset.form.cleaned_data if filterset.is_bound and valid else {}
    ordering = (data.get("ordering") or [DEFAULT_ORDERING])[0]
    # Live rows arrive on top: they only make sense on the newest page of an open-ended window,
    # newest first.
    live = valid and not request.GET.get("cursor") and not data.get("until") and ordering == DEFAULT_ORDERING
    context = {
        "filterset": filterset,
        "form": filterset.form,
        "event_types": types.names(),
        "selected_types": data.get("type") or [],
        "rows": rows,
        "next_link": next_link,
        "previous_link": previous_link,
        "first_page_link": _first_page_link(request) if request.GET.get("cursor") else None,
        "last_id": last_id,
        "live": live,
        "sorted_by": None if ordering == DEFAULT_ORDERING else dict(SORTABLE_COLUMNS_BY_NAME)[ordering.lstrip("-")],
        "ordering": ordering,
        "sort_headers": _sort_headers(request, ordering),
        "ws_types": ",".join(data.get("type") or []),
        "ws_run_id": data.get("run_id") or "",
        "filter_symbol": data.get("symbol") or "",
        "filter_source": data.get("source") or "",
        "filter_correlation_id": str(data["correlation_id"]) if data.get("correlation_id") else "",
        "filter_since": data["since"].isoformat() if data.get("since") else "",
        "note_form": note_form or OperatorNoteForm(),
        "filtered": any(request.GET.get(name) for name in filterset.filters if name != "ordering") or show_noise,
        "show_noise": show_noise,
        "hidden_types": ",".join(hidden_types),
    }
    return context, 200 if valid else 400


SORTABLE_COLUMNS_BY_NAME = [(name, label) for label, name in SORTABLE_COLUMNS]


def _first_page_link(request) -> str:
    query = request.GET.copy()
    query.pop("cursor", None)
    return "?" + query.urlencode()


class DecisionsView(RolePageMixin, View):
    def get(self, request):
        context, status = _decisions_context(request)
        return render(request, "dashboard/decisions.html", context, status=status)


class OperatorNoteView(RolePageMixin, ActionView):
    """POST an operator note: one ``intent`` event naming the user, through ``intent_submit`` like the API."""

    role = Role.OPERATOR
    form_class = OperatorNoteForm

    def act(self, request, form):
        agent_services.intent_submit(
            user=request.user, action="note", note=form.cleaned_data["note"], symbol=form.cleaned_data["symbol"]
        )
        messages.success(request, "Note added to the decision log.")
        return redirect(reverse("dashboard:decisions"))

    def refused(self, request, form, error):
        context, _ = _decisions_context(request, note_form=form)
        return render(request, "dashboard/decisions.html", context, status=error.status_code if error else 400)


class TradePagination(NewestFirstCursorPagination):
    page_size = 50
    max_page_size = 200


TRADE_STATUSES = [("", "any"), ("open", "open"), ("closed", "closed")]


class TradesView(RolePageMixin, View):
    """Every round trip of the live/paper book, newest opened first, paged, filtered like
    ``GET /api/v1/live/trades`` (same filter set); open trades marked to the last price."""

    def get(self, request):
        filterset = TradeFilterSet(request.GET, queryset=agent_selectors.trade_list())
        trades, next_link, previous_link, cursor_error = [], None, None, ""
        if filterset.is_valid():
            paginator = TradePagination()
            try:
                trades = paginator.paginate_queryset(filterset.qs, Request(request))
            except DRFValidationError:  # a forged or stale cursor: say so, as the API does
                cursor_error = "Invalid cursor: start again from the first page."
            else:
                next_link, previous_link = paginator.get_next_link(), paginator.get_previous_link()
        data = filterset.form.cleaned_data if filterset.is_valid() else {}
        context = {
            "form": filterset.form,
            "trades": trades,
            "next_link": next_link,
            "previous_link": previous_link,
            "symbols": [i.symbol for i in market_selectors.instrument_list(active=True).order_by("symbol")],
            "statuses": TRADE_STATUSES,
            "filter_symbol": data.get("symbol") or "",
            "filter_status": data.get("status") or "",
            "filter_exit_reason": data.get("exit_reason") or "",
            "filtered": any(request.GET.get(name) for name in filterset.filters),
            "cursor_error": cursor_error,
        }
        valid = filterset.is_valid() and not cursor_error
        return render(request, "dashboard/trades.html", context, status=200 if valid else 400)


CHAIN_PAGE_SIZE = 200


def _steps(events) -> list[dict]:
    steps = []
    for event in events:
        data = event_row(event_to_dict(event))
        data["items"] = display_items(data["payload"])
        data["cause_type"] = event.cause.type if event.cause else None
        steps.append(data)
    return steps


class ChainView(RolePageMixin, View):
    """A correlation chain (a plan's whole life), oldest first, paged, heartbeats and marks behind
    ``?all=1``. The API's ``events/chains/<id>`` returns the same steps."""

    def get(self, request, correlation_id):
        include_all = request.GET.get("all") == "1"
        queryset = event_selectors.correlation_events(correlation_id=correlation_id, include_all=include_all)
        try:
            page = max(1, int(request.GET.get("page", "1")))
        except ValueError:
            page = 1
        total = queryset.count()
        if (
            not total
            and not include_all
            and not event_selectors.correlation_events(correlation_id=correlation_id, include_all=True).exists()
        ):
            raise Http404(f"No decision chain {correlation_id}.")
        pages = max(1, -(-total // CHAIN_PAGE_SIZE))
        page = min(page, pages)
        start = (page - 1) * CHAIN_PAGE_SIZE
        events = event_selectors.attach_causes(list(queryset[start : start + CHAIN_PAGE_SIZE]))
        context = {
            "steps": _steps(events),
            "correlation_id": correlation_id,
            "whole": True,
            "include_all": include_all,
            "hidden_types": [] if include_all else types.outside_chains(),
            "total": total,
            "first_shown": start + 1 if events else 0,
            "last_shown": start + len(events),
            "page": page,
            "pages": pages,
            "page_numbers": range(1, pages + 1),
        }
        return render(request, "dashboard/chain.html", context)


class EventView(RolePageMixin, View):
    """One decision's own chain (``events.selectors.event_decision_path``): the causes that led
    to the event, the event, what it caused. Fill and block rows link here; the API's
    ``events/<id>/chain`` returns the same steps."""

    def get(self, request, event_id):
        event = event_selectors.event_get(event_id=event_id)
        if event is None:
            raise Http404(f"No event {event_id}.")
        path = event_selectors.event_decision_path(event=event)
        context = {
            "steps": _steps(path.steps),
            "correlation_id": event.correlation_id,
            "highlight": str(event.event_id),
            "whole": False,
            "truncated": path.truncated,
            "event": event,
            "shadow": path.sections.get("shadow"),  # a block's "had this trade gone through"
        }
        return render(request, "dashboard/chain.html", context)


class WalletsView(RolePageMixin, View):
    def get(self, request):
        balances = Prefetch("balances", queryset=WalletBalance.objects.order_by("currency"), to_attr="balance_list")
        wallets = list(wallet_selectors.wallet_list().prefetch_related(balances)[:WALLETS_SHOWN])
        context = {
            "wallets": wallets,
            "runs": list(wallet_selectors.reconciliation_run_list().order_by("-started_at", "-id")[:10]),
            "breaching": [w for w in wallets if w.drift_status == Wallet.DriftStatus.BREACH],
        }
        return render(request, "dashboard/wallets.html", context)


class WalletDetailView(RolePageMixin, View):
    def get(self, request, wallet_id):
        wallet = wallet_selectors.wallet_get(wallet_id=wallet_id)
        if wallet is None:
            raise Http404(f"No wallet {wallet_id}.")
        context = {
            "wallet": wallet,
            "drift": selectors.drift_series(wallet_id=wallet.pk),
            "entries": list(wallet_selectors.ledger_entry_list(wallet_id=wallet.pk).order_by("-ts", "-id")[:20]),
        }
        return render(request, "dashboard/wallet_detail.html", context)


class ReconcileNowView(RolePageMixin, ActionView):
    """Operators: reconcile every wallet now, through the same service as the API."""

    role = Role.OPERATOR

    def act(self, request, form):
        run = wallet_services.wallet_reconcile(user=request.user).run
        messages.success(
            request, f"Reconciliation #{run.pk} {run.status}: {run.wallets_checked} checked, {run.breaches} breaches."
        )
        return redirect(reverse("dashboard:wallets"))

    def refused(self, request, form, error):
        level = messages.WARNING if isinstance(error, Conflict) else messages.ERROR
        messages.add_message(request, level, error_text(error))
        return redirect(reverse("dashboard:wallets"))


DEFAULT_INDICATORS = "sma_20,ema_50"
MARKER_TYPES = ["fill", "trade_blocked"]


class MarketUploadView(RolePageMixin, market_upload.MarketUploadView):
    role = Role.OPERATOR


class MarketView(RolePageMixin, View):
    """A candlestick chart of one symbol and timeframe with indicators overlaid. The page opens
    /ws/market/ first and then loads the bars from /api/v1/market/candles (the market API's
    race-free order); the query is checked here with the API's own serializer."""

    def get(self, request):
        instruments = list(market_selectors.instrument_list(active=True).order_by("symbol"))
        symbol, timeframe = request.GET.get("symbol"), request.GET.get("timeframe")
        if not symbol:  # open on a chart with data: the instrument with the newest bar
            wanted = [timeframe] if timeframe else ["1h", "1m", "5m", "15m", "4h", "1d"]
            found = market_selectors.instrument_with_latest_data(timeframes=wanted)
            if found is not None:
                symbol, timeframe = found
            else:
                symbol = instruments[0].symbol if instruments else ""
        params = {
            "symbol": symbol,
            "timeframe": timeframe or "1h",
            "indicators": request.GET.get("indicators", DEFAULT_INDICATORS),
        }
        query = CandleQuerySerializer(data=params)
        valid = query.is_valid()
        instrument = None
        if params["symbol"] and "symbol" not in query.errors:
            instrument = market_selectors.instrument_get(symbol=params["symbol"])
            if instrument is None:
                raise Http404(f"No instrument {params['symbol']!r}.")
        markers = selectors.symbol_events(symbol=instrument.symbol, types=MARKER_TYPES) if instrument and valid else []
        context = {
            "instruments": instruments,
            "instrument": instrument,
            "params": params,
            "errors": query.errors,
            "valid": valid and instrument is not None,
            "timeframes": timeframes.ALL,
            "markers": markers,
            "last_price": (
                market_selectors.last_price(instrument=instrument, timeframe=params["timeframe"])
                if instrument and valid
                else None
            ),
            "upload_form": market_upload.CandleUploadForm(
                initial={"symbol": params["symbol"], "timeframe": params["timeframe"]}
            ),
        }
        return render(request, "dashboard/market.html", context, status=200 if valid or not instruments else 400)


AGENTS_LIVE_TYPES = ["plan_generated", "plan_judged", "intent", "llm_call"]


class AgentsView(RolePageMixin, View):
    """Plans with their rules, judgements with scores over time, operator intents, LLM calls."""

    def get(self, request):
        now = timezone.now()
        last_id = event_selectors.event_last_id()
        judgements = list(agent_selectors.judgement_list().order_by("-ts", "-id")[:200])
        context = {
            "last_id": last_id,
            "live_types": ",".join(AGENTS_LIVE_TYPES),
            "agents": agent_selectors.agent_status_overview(),
            "plans": list(agent_selectors.plan_list().order_by("-created_at", "-id")[:10]),
            "judgements": judgements[:20],
            "scores": [
                {"ts": j.ts.isoformat(), "plan_id": j.plan_id, "score": str(j.overall_score)}
                for j in reversed(judgements)
            ],
            "intents": list(agent_selectors.intent_list().order_by("-ts", "-id")[:20]),
            "llm": agent_selectors.llm_summary(since=now - timedelta(hours=24), until=now),
            "llm_calls": list(agent_selectors.llm_call_list()[:20]),
        }
        return render(request, "dashboard/agents.html", context)


def _backtests_page(request, form: BacktestForm | None, status: int = 200):
    runs = list(backtest_selectors.run_list().order_by("-created_at", "-id")[:50])
    for run in runs:  # the list's columns: return, trades, max drawdown, Sharpe
        run.headline = {row["key"]: row for row in presentation.metric_rows(run.results, keys=presentation.HEADLINE)}
    instruments = list(market_selectors.instrument_list(active=True).order_by("symbol"))
    coverage = backtest_selectors.candle_coverage(symbols=[i.symbol for i in instruments])
    if form is None:
        # start on a symbol and timeframe that have candles (the first with the most), over their range
        first = max(
            ((sym, c) for sym, spans in coverage.items() for c in spans),
            key=lambda item: item[1]["candles"],
            default=None,
        )
        initial = {"symbol": first[0], "timeframe": first[1]["timeframe"]} if first else {}
        form = BacktestForm(initial=initial)
    options = [
        {
            "symbol": i.symbol,
            "label": i.symbol
            + (
                " — "
                + "; ".join(
                    f"{c['timeframe']}: {c['first']:%Y-%m-%d %H:%M} → {c['last']:%Y-%m-%d %H:%M} ({c['candles']:,})"
                    for c in coverage[i.symbol]
                )
                if i.symbol in coverage
                else " — no candles"
            ),
        }
        for i in instruments
    ]
    context = {"runs": runs, "form": form, "instruments": instruments, "symbol_options": options,
               "coverage": coverage}  # fmt: skip
    return render(request, "dashboard/backtests.html", context, status=status)


class BacktestsView(RolePageMixin, View):
    def get(self, request):
        return _backtests_page(request, None)


class BacktestStartView(RolePageMixin, ActionView):
    """Operators start a run from the form, through the same service as ``POST /api/v1/backtests``."""

    role = Role.OPERATOR
    form_class = BacktestForm

    def act(self, request, form):
        run = backtest_services.backtest_run_create(data=form.request_body(), user=request.user)
        return redirect(reverse("dashboard:backtest", args=[run.pk]))

    def refused(self, request, form, error):
        return _backtests_page(request, form, status=error.status_code if error else 400)


class BacktestDetailView(RolePageMixin, View):
    def get(self, request, run_id):
        run = backtest_selectors.run_get(run_id=run_id)
        if run is None:
            raise Http404(f"No backtest {run_id}.")
        completed = run.status == RunStatus.COMPLETED
        trades = TradeSerializer(backtest_selectors.trade_list(run_id=run.pk)[:50], many=True).data if completed else []
        blocks = BlockSerializer(backtest_selectors.block_list(run_id=run.pk)[:50], many=True).data if completed else []
        days = backtest_selectors.daily_report_list(run_id=run.pk)[:62] if completed else []
        daily = DailyReportSerializer(days, many=True).data if completed else []
        summary = presentation.summary_tables(run.results)
        context = {
            "run": run,
            "completed": completed,
            "finished": run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED),
            "percent": round(100 * run.candles_processed / run.candles_total) if run.candles_total else 0,
            "metrics": presentation.metric_rows(run.results),
            "summary": summary,
            "places": formatting.money_places((run.results or {}).get("quote")),
            "summary_groups": [
                ("Per symbol", summary["per_symbol"], "by-symbol"),
                ("Per exit reason", summary["per_exit_reason"], "by-exit-reason"),
            ],  # fmt: skip
            "results": payload_items(run.results or {}),
            "trades": trades,
            "blocks": blocks,
            "daily": daily,
            "config": run.config,
            "scorecard": (run.results or {}).get("block_scorecard") if completed else None,
            "what_ifs": backtest_selectors.what_if_list(run_id=run.pk) if completed else [],
            "what_if_form": WhatIfForm(rules=RISK_FIELDS, initial={"rule": "max_trades_per_day"}),
        }
        context["what_if_pending"] = any(not t["finished"] for t in context["what_ifs"])
        return render(request, "dashboard/backtest.html", context)


class BacktestWhatIfView(RolePageMixin, View):
    """Operators start a what-if from the run's page, through the same service as the API."""

    role = Role.OPERATOR

    def post(self, request, run_id):
        if backtest_selectors.run_get(run_id=run_id) is None:
            raise Http404(f"No backtest {run_id}.")
        form = WhatIfForm(request.POST, rules=RISK_FIELDS)
        if not form.is_valid():
            for field, errors in form.errors.items():
                messages.error(request, f"What-if {field}: {' '.join(errors)}")
        else:
            try:
                sweep = backtest_services.what_if_create(run_id=run_id, user=request.user, **form.cleaned_data)
            except (Invalid, backtest_services.RunStateError) as error:
                for field, detail in error.detail.items():
                    messages.error(request, f"What-if {field}: {_flat(detail)}")
            else:
                messages.success(request, f"What-if on {sweep.rule}: {sweep.combinations} runs queued.")
        return redirect(reverse("dashboard:backtest", args=[run_id]) + "#what-if")


def _flat(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"value {key}: {_flat(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flat(d) for d in detail)
    return str(detail)


class BacktestCancelView(RolePageMixin, ActionView):
    role = Role.OPERATOR

    def act(self, request, form, run_id):
        if backtest_selectors.run_get(run_id=run_id) is None:
            raise Http404(f"No backtest {run_id}.")
        backtest_services.backtest_run_cancel(run_id=run_id, user=request.user)
        messages.success(request, "Cancel requested; the run stops within a second.")
        return redirect(reverse("dashboard:backtest", args=[run_id]))

    def refused(self, request, form, error, run_id):
        messages.error(request, error_text(error))
        return redirect(reverse("dashboard:backtest", args=[run_id]))


class BacktestCompareView(RolePageMixin, View):
    """Two to five completed runs: metrics side by side and their equity curves on one chart."""

    def get(self, request):
        ids = ",".join(request.GET.getlist("ids"))
        query = CompareQuerySerializer(data={"ids": ids})
        runs, errors = [], []
        if query.is_valid():
            runs = backtest_selectors.runs_by_ids(query.validated_data["ids"])
            found = {str(r.pk) for r in runs}
            errors += [f"No backtest {i}." for i in query.validated_data["ids"] if str(i) not in found]
            errors += [f"{r.name} is {r.status}: only completed runs compare." for r in runs if r.status != "completed"]
        elif not ids:
            errors.append("No run picked.")
        else:
            errors += [str(e) for e in query.errors.get("ids", [])]
        # one fixed order (returns, risk, trades), each value formatted as the run page shows it
        per_run = [{row["key"]: row for row in presentation.metric_rows(r.results)} for r in runs]
        rows = [
            (label, [cells.get(key) for cells in per_run])
            for key, label, _ in presentation.METRICS
            if any(key in cells for cells in per_run)
        ]
        context = {"runs": runs, "rows": rows, "errors": errors, "ids": ids}
        return render(request, "dashboard/backtest_compare.html", context, status=400 if errors else 200)
