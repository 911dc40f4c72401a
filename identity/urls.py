"""The provider's URLs, where allauth.idp.oidc puts them (allauth's names under the
`idp:oidc` namespace, which its views reverse), each answering 404 while the provider
is off. Discovery is /.well-known/openid-configuration."""

from allauth.idp.oidc import views as oidc
from django.urls import include, path

from identity import views
from identity.views import provider_on

app_name = "idp"

_api = [
    path("token", provider_on(views.token), name="token"),
    path("revoke", provider_on(oidc.revoke), name="revoke"),
    path("device/code", provider_on(oidc.device_code), name="device_code"),
    path("userinfo", provider_on(oidc.user_info), name="userinfo"),
]

_oidc = [
    path(".well-known/openid-configuration", provider_on(oidc.configuration), name="configuration"),
    path(".well-known/jwks.json", provider_on(oidc.jwks), name="jwks"),
    path("identity/o/authorize", provider_on(views.authorization), name="authorization"),
    path("identity/o/device", provider_on(oidc.device_authorization), name="device_authorization"),
    path("identity/o/logout", provider_on(oidc.logout), name="logout"),
    path("identity/o/api/", include(_api)),
]

urlpatterns = [path("", include((_oidc, "oidc")))]
