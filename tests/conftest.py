"""Settings shared by the whole test suite."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# CI machines are shared and noisy: a per-example deadline would turn a slow moment into a
# flaky failure. Properties are still checked on every example.
settings.register_profile(
    "edxgw", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("edxgw")
