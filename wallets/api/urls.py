from django.urls import path

from . import views

app_name = "wallets"

urlpatterns = [
    path("wallets", views.WalletListView.as_view(), name="wallet-list"),
    path("wallets/reconcile", views.ReconcileView.as_view(), name="reconcile"),
    path("wallets/reconcile/history", views.ReconcileHistoryView.as_view(), name="reconcile-history"),
    path("wallets/reconcile/<int:run_id>", views.ReconcileDetailView.as_view(), name="reconcile-detail"),
    path("wallets/drift/<int:drift_id>/correct", views.DriftCorrectView.as_view(), name="drift-correct"),
    path("wallets/<int:wallet_id>", views.WalletDetailView.as_view(), name="wallet-detail"),
    path("wallets/<int:wallet_id>/transactions", views.WalletTransactionsView.as_view(), name="wallet-transactions"),
    path("wallets/<int:wallet_id>/drift", views.WalletDriftView.as_view(), name="wallet-drift"),
]
