"""Security test helpers: tickets made through the real intake and demo staff actors (shared with tests/backend)."""

from tests.backend.conftest import report, resident, staff  # noqa: F401  (fixtures)
