from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.OverviewView.as_view(), name="overview"),
    path("actions/intent", views.OperatorIntentView.as_view(), name="intent"),
    path("actions/kill-switch", views.KillSwitchView.as_view(), name="kill-switch"),
    path("actions/mode", views.ModeView.as_view(), name="mode"),
    path("trades/", views.TradesView.as_view(), name="trades"),
    path("decisions/", views.DecisionsView.as_view(), name="decisions"),
    path("decisions/notes", views.OperatorNoteView.as_view(), name="note-add"),
    path("decisions/chains/<uuid:correlation_id>/", views.ChainView.as_view(), name="chain"),
    path("decisions/events/<uuid:event_id>/", views.EventView.as_view(), name="event"),
    path("agents/", views.AgentsView.as_view(), name="agents"),
    path("backtests/", views.BacktestsView.as_view(), name="backtests"),
    path("backtests/compare", views.BacktestCompareView.as_view(), name="backtest-compare"),
    path("backtests/start", views.BacktestStartView.as_view(), name="backtest-start"),
    path("backtests/<uuid:run_id>/", views.BacktestDetailView.as_view(), name="backtest"),
    path("backtests/<uuid:run_id>/cancel", views.BacktestCancelView.as_view(), name="backtest-cancel"),
    path("backtests/<uuid:run_id>/what-if", views.BacktestWhatIfView.as_view(), name="backtest-what-if"),
    path("market/", views.MarketView.as_view(), name="market"),
    path("market/upload", views.MarketUploadView.as_view(), name="market-upload"),
    path("wallets/", views.WalletsView.as_view(), name="wallets"),
    path("wallets/reconcile", views.ReconcileNowView.as_view(), name="reconcile"),
    path("wallets/<int:wallet_id>/", views.WalletDetailView.as_view(), name="wallet"),
]
