"""The SDK tests take their fixtures (a real gateway on a port, ``served``) from
``tests/adapters/conftest.py``, which imports ``tests/adapters/sdk/fixtures.py``."""
