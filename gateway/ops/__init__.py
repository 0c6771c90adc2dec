"""Running a hub for years: drain and maintenance (``drain``), retention and signed archives
(``retention``, ``archives``), and their ``edxgw`` commands (``commands``)."""

from __future__ import annotations

__all__: list[str] = []
