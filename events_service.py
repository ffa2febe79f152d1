"""Entry point kept for ``uvicorn events_service:app --port 8020``.

Settings are read when this module is imported by uvicorn (``MUSICREC_*`` env and ``config.ini``);
the event store opens in the app's lifespan.
"""

from musicrec.services.events import create_app

app = create_app()
