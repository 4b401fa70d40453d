from django.urls import path

from . import views

app_name = "backtests"

urlpatterns = [
    path("backtests", views.RunListCreateView.as_view(), name="runs"),
    path("backtests/presets", views.PresetsView.as_view(), name="presets"),
    path("backtests/compare", views.CompareView.as_view(), name="compare"),
    path("backtests/sweeps", views.SweepListCreateView.as_view(), name="sweeps"),
    path("backtests/sweeps/<uuid:pk>", views.SweepDetailView.as_view(), name="sweep"),
    path("backtests/sweeps/<uuid:pk>/results", views.SweepResultsView.as_view(), name="sweep-results"),
    path("backtests/<uuid:pk>", views.RunDetailView.as_view(), name="run"),
    path("backtests/<uuid:pk>/results", views.RunResultsView.as_view(), name="results"),
    path("backtests/<uuid:pk>/equity", views.RunEquityView.as_view(), name="equity"),
    path("backtests/<uuid:pk>/trades", views.RunTradesView.as_view(), name="trades"),
    path("backtests/<uuid:pk>/blocks", views.RunBlocksView.as_view(), name="blocks"),
    path("backtests/<uuid:pk>/block-outcomes", views.RunBlockOutcomesView.as_view(), name="block-outcomes"),
    path(
        "backtests/<uuid:pk>/block-outcomes/summary",
        views.RunBlockOutcomesSummaryView.as_view(),
        name="block-outcomes-summary",
    ),
    path("backtests/<uuid:pk>/what-if", views.RunWhatIfView.as_view(), name="what-if"),
    path("backtests/<uuid:pk>/daily-reports", views.RunDailyReportsView.as_view(), name="daily-reports"),
    path("backtests/<uuid:pk>/state", views.RunStateView.as_view(), name="state"),
    path("backtests/<uuid:pk>/cancel", views.RunCancelView.as_view(), name="cancel"),
]
