"""The HTTP shell (aiohttp): the agency REST API, health, the OpenAPI document.

Handlers translate HTTP to :class:`gateway.service.Hub` calls and back; they hold no logic of
their own and no state beyond what ``gateway/app.py`` put on the application.
"""
