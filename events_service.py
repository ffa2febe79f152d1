"""Entry point kept for ``uvicorn events_service:app --port 8020``.

Settings are read when this module is imported by uvicorn (``MUSICREC_*`` env and ``config.ini``);
the event store opens in the app's lifespan.
"""

from musicrec.services.events import create_app

app = create_app()

if __name__ == "__main__":  # python events_service.py: [serving] host, the port of [urls]
    from musicrec.services.cli import run_one

    run_one("events", app)
