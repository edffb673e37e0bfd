"""The deployed shape: gunicorn with DEBUG off, static files from WhiteNoise, the health check."""

import gzip
import http.cookiejar
import re
import urllib.parse
import urllib.request

from tests.support import ADT
from tests.web.servers import ADMIN_PASSWORD, Server, get


def test_healthz_is_200_without_login_when_all_three_databases_answer(site):
    status, _, body = get(site.url + "/healthz")
    assert (status, body) == (200, b"ok\n")


def test_healthz_is_503_naming_the_database_that_does_not_answer(adt, static_root, tmp_path):
    # A directory where logs.db should be: SQLite cannot open it.
    broken = ADT(adt.home, env={"ADT_LOGS_DB": tmp_path})
    with Server(broken, static_root) as server:
        status, _, body = get(server.url + "/healthz")
    assert status == 503
    lines = body.decode().splitlines()
    assert lines[0] == "unavailable"
    assert [line.split(":")[0] for line in lines[1:]] == ["logs"]
    assert "unable to open database file" in body.decode()


def test_gunicorn_serves_htmx_and_css_compressed_with_hashed_names(site):
    html = _logged_in_page(site)
    htmx = re.search(r'src="(/static/django_htmx/htmx-2\.min\.[0-9a-f]{12}\.js)"', html).group(1)
    css = re.search(r'href="(/static/adt\.[0-9a-f]{12}\.css)"', html).group(1)
    for path in (htmx, css):
        status, headers, body = get(site.url + path, headers={"Accept-Encoding": "gzip"})
        assert status == 200, path
        assert headers["Content-Encoding"] == "gzip", path
        assert "immutable" in headers["Cache-Control"], path
        assert len(gzip.decompress(body)) > len(body)
    _, _, script = get(site.url + htmx)
    assert b'version:"2.' in script


def _logged_in_page(site):
    """The dashboard's HTML, logged in through the real login form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = opener.open(site.url + "/admin/login/?next=/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": "admin", "password": ADMIN_PASSWORD, "next": "/"}
    ).encode()
    request = urllib.request.Request(site.url + "/admin/login/?next=/", data=data, headers={"Referer": site.url + "/admin/login/"})
    return opener.open(request).read().decode()
