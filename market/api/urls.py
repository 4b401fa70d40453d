from django.urls import path

from . import views

app_name = "market"

urlpatterns = [
    path("market/symbols", views.SymbolListView.as_view(), name="symbols"),
    path("market/instruments", views.InstrumentCreateView.as_view(), name="instrument-create"),
    path("market/candles", views.CandleListView.as_view(), name="candles"),
    path("market/ticks", views.TickListView.as_view(), name="ticks"),
    path("market/summary", views.SummaryView.as_view(), name="summary"),
]
