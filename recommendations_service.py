"""Entry point kept from the original: ``uvicorn recommendations_service:app`` (port 8000).

Settings are read when this module is imported by uvicorn (inside ``create_app``), artifacts when the
app starts (``lifespan``); see :mod:`musicrec.services.recommendations.app`.
"""

from musicrec.services.recommendations.app import create_app

app = create_app()
