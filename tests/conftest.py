import shutil
import subprocess

import pytest

from tests.support import ADT, PYTHON, ROOT, environment


@pytest.fixture(scope="session")
def migrated_home(tmp_path_factory):
    """An ADT_HOME migrated once by a real `manage.py migrate`; tests copy it."""
    home = tmp_path_factory.mktemp("template")
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=environment(home), check=True)
    return home


@pytest.fixture
def adt(migrated_home, tmp_path):
    home = tmp_path / "adt"
    shutil.copytree(migrated_home, home)
    return ADT(home)


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory):
    """A clickhouse-server of this test run (each xdist worker starts its own), never the machine's service."""
    from tests.clickhouse_server import ClickHouse, find_binary
    from tests.servers import unavailable

    binary = find_binary()
    if not binary:
        unavailable("no clickhouse-server on this machine (apt-get install clickhouse-server)")
    server = ClickHouse(binary, tmp_path_factory.mktemp("clickhouse"))
    yield server
    server.stop()


@pytest.fixture
def clickhouse_url(clickhouse_server):
    """ADT_CLICKHOUSE_URL for a database of this test's own on the shared server; dropped after."""
    from tests.clickhouse_server import execute, new_database

    name = new_database()
    yield clickhouse_server.url(name)
    if clickhouse_server.proc is not None:
        execute(clickhouse_server, f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def private_clickhouse(tmp_path):
    """A server of this test alone, which it may stop and start."""
    from tests.clickhouse_server import ClickHouse, find_binary
    from tests.servers import unavailable

    binary = find_binary()
    if not binary:
        unavailable("no clickhouse-server on this machine (apt-get install clickhouse-server)")
    server = ClickHouse(binary, tmp_path / "clickhouse")
    yield server
    server.stop()
