from django.urls import path

from . import views

app_name = "agents"

urlpatterns = [
    path("live/positions", views.PositionListView.as_view(), name="positions"),
    path("live/portfolio", views.PortfolioView.as_view(), name="portfolio"),
    path("live/orders", views.OrderListView.as_view(), name="orders"),
    path("live/fills", views.FillListView.as_view(), name="fills"),
    path("live/trades", views.TradeListView.as_view(), name="trades"),
    path("live/equity", views.EquityListView.as_view(), name="equity"),
    path("live/blocks", views.BlockListView.as_view(), name="blocks"),
    path("live/block-reasons", views.BlockReasonsView.as_view(), name="block-reasons"),
    path("live/block-outcomes", views.BlockOutcomeListView.as_view(), name="block-outcomes"),
    path("live/block-outcomes/open", views.BlockOutcomeOpenView.as_view(), name="block-outcomes-open"),
    path("live/block-outcomes/summary", views.BlockOutcomeSummaryView.as_view(), name="block-outcomes-summary"),
    path("live/risk-budget", views.RiskBudgetView.as_view(), name="risk-budget"),
    path("live/position-snapshots", views.PositionSnapshotListView.as_view(), name="position-snapshots"),
    path("agents/plans", views.PlanListView.as_view(), name="plans"),
    path("agents/judgements", views.JudgementListView.as_view(), name="judgements"),
    path("agents/intents", views.IntentListCreateView.as_view(), name="intents"),
    path("agents/llm/calls", views.LLMCallListView.as_view(), name="llm-calls"),
    path("agents/llm/summary", views.LLMSummaryView.as_view(), name="llm-summary"),
    path("agents/status", views.AgentStatusView.as_view(), name="status"),
    path("control/runtime", views.RuntimeConfigView.as_view(), name="runtime"),
    path("control/mode", views.ModeView.as_view(), name="mode"),
    path("control/kill-switch", views.KillSwitchView.as_view(), name="kill-switch"),
]
