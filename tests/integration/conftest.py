import pytest

from tests.integration.stack import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The three services for one test module (events persist across its tests: use distinct users)."""
    with Stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
