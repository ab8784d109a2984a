"""The admin action pages drive the MTurk emulator like the publishing suites do: reuse their
fixtures (an emulator per test, settings pointing boto3 at it, the app on the test session)."""

from tests.app.hits.conftest import fast_retries, happ, hsettings, mt, web  # noqa: F401
