"""Fixtures shared by the recommendations service's tests."""

import pytest

from tests.services.recommendations.fakes import Neighbours


@pytest.fixture
def neighbours() -> Neighbours:
    """Fake events and features services with no events; a test fills them or makes them fail."""
    return Neighbours()
