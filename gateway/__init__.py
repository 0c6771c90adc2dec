"""The edXML exchange gateway: a provincial (or central, or district) document exchange hub.

``gateway/app.py`` wires the parts; ``edxgw serve`` runs them (``gateway/cli.py``).
"""

__version__ = "0.1.0"
