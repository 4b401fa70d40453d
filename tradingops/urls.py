from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tradingops.api.views import ApiRootView

api_v1 = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("events.api.urls")),
    path("", include("wallets.api.urls")),
    path("", include("market.api.urls")),
    path("", include("agents.api.urls")),
    path("", include("backtests.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("dashboard.urls")),
]

handler400 = "tradingops.errorpages.bad_request"
handler403 = "tradingops.errorpages.permission_denied"
handler404 = "tradingops.errorpages.not_found"
handler500 = "tradingops.errorpages.server_error"
