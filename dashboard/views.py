"""Server-rendered pages. Each renders its initial state with the log position it was read at
(``last_id``); static/js/live.js then subscribes from that position, so nothing falls between the
render and the socket."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from rest_framework.request import Request

from agents import selectors as agent_selectors
from agents import services as agent_services
from backtests import presentation
from backtests import selectors as backtest_selectors
from backtests import services as backtest_services
from backtests.api.serializers import BlockSerializer, CompareQuerySerializer, DailyReportSerializer, TradeSerializer
from backtests.models import RunStatus
from events import selectors as event_selectors
from events import types
from events.presentation import event_to_dict
from market import selectors as market_selectors
from market import timeframes
from market.api.serializers import CandleQuerySerializer
from tradingops.api.pagination import NewestFirstCursorPagination
from tradingops.errors import Invalid
from tradingops.roles import Role, has_role
from wallets import selectors as wallet_selectors
from wallets import services as wallet_services
from wallets.models import Wallet, WalletBalance

from . import market_upload, selectors
from .backtest_form import BacktestForm
from .filters import DecisionFilterSet
from .forms import KillSwitchForm, ModeForm, OperatorIntentForm, OperatorNoteForm
from .presentation import event_row, payload_items

OVERVIEW_LIVE_TYPES = [
    "fill",
    "trade_blocked",
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


def _overview(request, *, forms: dict | None = None, status: int = 200):
    last_id = event_selectors.event_last_id()
    context = {
        "last_id": last_id,
        "fills": selectors.latest_events(event_type="fill", limit=10),
        "blocks": selectors.block_reasons(),
        "runs": list(event_selectors.run_summary_list()[:10]),
        "live_types": ",".join(OVERVIEW_LIVE_TYPES),
        "reconciliation": wallet_selectors.reconciliation_run_latest(),
        "portfolio": agent_selectors.portfolio_summary(),
        "positions": list(agent_selectors.position_list(open_only=True)),
        "risk": agent_selectors.risk_budget(day=timezone.now().date()),
        "agents": agent_selectors.agent_status_overview(),
        "intent_form": OperatorIntentForm(),
        "kill_form": KillSwitchForm(),
        "mode_form": ModeForm(),
        **(forms or {}),
    }
    return render(request, "dashboard/overview.html", context, status=status)


class OverviewView(RolePageMixin, View):
    def get(self, request):
        return _overview(request)


def _refusal(exc) -> str:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
    return "; ".join(getattr(exc, "messages", [str(exc)]))


class OperatorIntentView(RolePageMixin, View):
    """Operators: pause, resume, flatten, replan, risk multiplier, through ``intent_submit`` like the API."""

    role = Role.OPERATOR

    def post(self, request):
        form = OperatorIntentForm(request.POST)
        if not form.is_valid():
            return _overview(request, forms={"intent_form": form}, status=400)
        data = form.cleaned_data
        params = {"multiplier": str(data["multiplier"])} if data["action"] == "set_risk_multiplier" else {}
        try:
            event = agent_services.intent_submit(
                user=request.user, action=data["action"], symbol=data["symbol"], params=params, note=data["note"]
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(
                    field if field in form.fields else "multiplier" if "multiplier" in field else None, errors
                )
            return _overview(request, forms={"intent_form": form}, status=400)
        messages.success(
            request, f"{data['action'].replace('_', ' ').capitalize()} requested (intent {event.event_id})."
        )
        return redirect(reverse("dashboard:overview"))


class KillSwitchView(RolePageMixin, View):
    role = Role.ADMIN

    def post(self, request):
        form = KillSwitchForm(request.POST)
        if not form.is_valid():
            return _overview(request, forms={"kill_form": form}, status=400)
        try:
            agent_services.kill_switch_set(
                user=request.user, engaged=form.cleaned_data["engaged"], reason=form.cleaned_data["reason"]
            )
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, _refusal(exc))
            return _overview(request, forms={"kill_form": form}, status=400)
        messages.success(request, f"Kill switch {'engaged' if form.cleaned_data['engaged'] else 'released'}.")
        return redirect(reverse("dashboard:overview"))


class ModeView(RolePageMixin, View):
    role = Role.ADMIN

    def post(self, request):
        form = ModeForm(request.POST)
        if not form.is_valid():
            return _overview(request, forms={"mode_form": form}, status=400)
        try:
            agent_services.runtime_mode_switch(user=request.user, **form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, _refusal(exc))
            return _overview(request, forms={"mode_form": form}, status=400)
        messages.success(request, f"Mode is now {form.cleaned_data['mode']}.")
        return redirect(reverse("dashboard:overview"))


class DecisionPagination(NewestFirstCursorPagination):
    page_size = 50
    max_page_size = 200


def _decisions_context(request, note_form: OperatorNoteForm | None = None) -> tuple[dict, int]:
    # Read the log position first: an event stored between this read and the page query shows up
    # twice (page and socket replay) and the page drops the repeat by id; none is lost.
    last_id = event_selectors.event_last_id()
    filterset = DecisionFilterSet(request.GET, queryset=event_selectors.event_list())
    rows, next_link, previous_link = [], None, None
    if filterset.is_valid():
        paginator = DecisionPagination()
        page = paginator.paginate_queryset(filterset.qs, Request(request))
        rows = [event_row(event_to_dict(event)) for event in page]
        next_link, previous_link = paginator.get_next_link(), paginator.get_previous_link()
    data = filterset.form.cleaned_data if filterset.is_bound and filterset.is_valid() else {}
    # Live rows only make sense on the newest page of an open-ended window.
    live = filterset.is_valid() and not request.GET.get("cursor") and not data.get("until")
    context = {
        "filterset": filterset,
        "form": filterset.form,
        "event_types": types.names(),
        "selected_types": data.get("type") or [],
        "rows": rows,
        "next_link": next_link,
        "previous_link": previous_link,
        "last_id": last_id,
        "live": live,
        "ws_types": ",".join(data.get("type") or []),
        "ws_run_id": data.get("run_id") or "",
        "filter_symbol": data.get("symbol") or "",
        "filter_source": data.get("source") or "",
        "filter_correlation_id": str(data["correlation_id"]) if data.get("correlation_id") else "",
        "filter_since": data["since"].isoformat() if data.get("since") else "",
        "note_form": note_form or OperatorNoteForm(),
        "filtered": any(request.GET.get(name) for name in filterset.filters),
    }
    return context, 200 if filterset.is_valid() else 400


class DecisionsView(RolePageMixin, View):
    def get(self, request):
        context, status = _decisions_context(request)
        return render(request, "dashboard/decisions.html", context, status=status)


class OperatorNoteView(RolePageMixin, View):
    """POST an operator note: one ``intent`` event naming the user, through ``intent_submit`` like the API."""

    role = Role.OPERATOR

    def post(self, request):
        form = OperatorNoteForm(request.POST)
        if not form.is_valid():
            context, _ = _decisions_context(request, note_form=form)
            return render(request, "dashboard/decisions.html", context, status=400)
        try:
            agent_services.intent_submit(
                user=request.user, action="note", note=form.cleaned_data["note"], symbol=form.cleaned_data["symbol"]
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            context, _ = _decisions_context(request, note_form=form)
            return render(request, "dashboard/decisions.html", context, status=400)
        messages.success(request, "Note added to the decision log.")
        return redirect(reverse("dashboard:decisions"))


def _chain_context(events, highlight=None) -> dict:
    steps = []
    for event in events:
        data = event_row(event_to_dict(event))
        data["items"] = payload_items(data["payload"])
        data["cause_type"] = event.cause.type if event.cause else None
        steps.append(data)
    return {"steps": steps, "correlation_id": events[0].correlation_id, "highlight": highlight}


class ChainView(RolePageMixin, View):
    def get(self, request, correlation_id):
        events = event_selectors.event_chain(correlation_id=correlation_id)
        if not events:
            raise Http404(f"No decision chain {correlation_id}.")
        return render(request, "dashboard/chain.html", _chain_context(events))


class EventView(RolePageMixin, View):
    """One event, shown inside its chain."""

    def get(self, request, event_id):
        event = event_selectors.event_get(event_id=event_id)
        if event is None:
            raise Http404(f"No event {event_id}.")
        events = event_selectors.event_chain(correlation_id=event.correlation_id)
        return render(request, "dashboard/chain.html", _chain_context(events, highlight=str(event.event_id)))


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


class ReconcileNowView(RolePageMixin, View):
    """Operators: reconcile every wallet now, through the same service as the API."""

    role = Role.OPERATOR

    def post(self, request):
        try:
            outcome = wallet_services.wallet_reconcile(user=request.user)
        except wallet_services.ReconciliationBusy:
            messages.warning(request, "A reconciliation is already running; try again when it has finished.")
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
        else:
            run = outcome.run
            messages.success(
                request,
                f"Reconciliation #{run.pk} {run.status}: {run.wallets_checked} checked, {run.breaches} breaches.",
            )
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
        params = {
            "symbol": request.GET.get("symbol") or (instruments[0].symbol if instruments else ""),
            "timeframe": request.GET.get("timeframe") or "1h",
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


class BacktestStartView(RolePageMixin, View):
    """Operators start a run from the form, through the same service as ``POST /api/v1/backtests``."""

    role = Role.OPERATOR

    def post(self, request):
        form = BacktestForm(request.POST)
        if form.is_valid():
            try:
                run, _ = backtest_services.backtest_run_create(data=form.request_body(), user=request.user)
            except Invalid as error:
                form.add_api_errors(error.detail)
            else:
                return redirect(reverse("dashboard:backtest", args=[run.pk]))
        return _backtests_page(request, form, status=400)


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
            "places": presentation.money_places((run.results or {}).get("quote")),
            "summary_groups": [
                ("Per symbol", summary["per_symbol"], "by-symbol"),
                ("Per exit reason", summary["per_exit_reason"], "by-exit-reason"),
            ],  # fmt: skip
            "results": payload_items(run.results or {}),
            "trades": trades,
            "blocks": blocks,
            "daily": daily,
            "config": run.config,
        }
        return render(request, "dashboard/backtest.html", context)


class BacktestCancelView(RolePageMixin, View):
    role = Role.OPERATOR

    def post(self, request, run_id):
        if backtest_selectors.run_get(run_id=run_id) is None:
            raise Http404(f"No backtest {run_id}.")
        try:
            backtest_services.backtest_run_cancel(run_id=run_id)
        except backtest_services.RunStateError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, "Cancel requested; the run stops within a second.")
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
