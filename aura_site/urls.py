from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path

from aura_site import views
from aura_site.api import api

# Each product's pages nest under their project, at projects/<id>/<product>/. The project's own
# pages come after them.
PRODUCT_PAGES = {
    "scripts": "generation.scripts.urls",
    "roundtables": "roundtable.urls",
    "videos": "videos.urls",
}

# Products whose pages once lived at /<product>/<project_id>/...: those addresses answer 301.
MOVED_PRODUCTS = ("scripts",)


def _product_routes() -> list[URLPattern | URLResolver]:
    routes: list[URLPattern | URLResolver] = [
        path(f"projects/<int:project_id>/{product}/", include(urlconf))
        for product, urlconf in PRODUCT_PAGES.items()
    ]
    routes += [
        re_path(
            rf"^{product}/(?P<project_id>[0-9]+)/(?P<rest>.*)\Z",
            views.moved_under_project,
            {"product": product},
        )
        for product in MOVED_PRODUCTS
    ]
    return routes


admin.site.site_header = "Aura Studio admin"
admin.site.site_title = "Aura Studio admin"
admin.site.index_title = "Providers, prices, budgets and the ledger"

urlpatterns = [
    path("health", views.health, name="health"),
    path("", include("generation.spend.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("accounts/", include("aura_site.accounts.urls")),
    path("runs/", include("generation.runs.urls")),
    path("notices/", include("generation.costs.urls")),
    path("providers/", include("generation.health.urls")),
    *_product_routes(),
    path("", include("aura_site.projects.urls")),
]
