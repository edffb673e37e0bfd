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
