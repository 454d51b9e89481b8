"""Fixtures of the garments suites."""

from __future__ import annotations

import pytest


@pytest.fixture
def staff_client(client, staff_user):
    """The test client, signed in as a superuser staff member (tests/conftest.py's staff_user)."""
    client.force_login(staff_user)
    return client
