"""The 404 and 500 pages in the app's look, and the favicon."""

import pytest
from django.template.loader import render_to_string

from tests.web.servers import https_client


def test_the_500_page_renders_without_a_request_or_a_context():
    # Django renders 500.html with an empty context: nothing in it may need the request.
    html = render_to_string("500.html")
    assert "Something went wrong" in html
    assert 'rel="icon"' in html and "adt.css" in html and "adt-vars.css" in html


@pytest.mark.django_db(databases="__all__")
def test_a_missing_task_gets_the_styled_404(client, settings):
    settings.DEBUG = False
    response = client.get("/tasks/0000000000000000/")
    assert response.status_code == 404
    assert "404.html" in [t.name for t in response.templates]
    assert b"Page not found" in response.content and b"adt.css" in response.content


def test_favicon_ico_redirects_to_the_svg_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].startswith("/static/favicon") and response["Location"].endswith(".svg")


@pytest.mark.django_db(databases="__all__")
def test_the_admin_and_the_pages_share_the_palette_and_the_header(django_user_model):
    client = https_client()
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    for path in ("/", "/admin/", "/admin/events/event/"):
        html = client.get(path).content.decode()
        assert "adt-vars.css" in html, path
        assert 'id="site-nav"' in html and 'class="brand"' in html, path
    login = https_client().get("/admin/login/").content.decode()
    assert "adt-vars.css" in login and "adt-admin.css" in login and 'class="brand"' in login
