"""Entry point kept from the original: ``uvicorn recommendations_service:app`` (port 8000).

Settings are read when this module is imported by uvicorn (inside ``create_app``), artifacts when the
app starts (``lifespan``); see :mod:`musicrec.services.recommendations.app`.
"""

from musicrec.services.recommendations.app import create_app

app = create_app()

if __name__ == "__main__":  # python recommendations_service.py: [serving] host, the port of [urls]
    from musicrec.services.cli import run_one

    run_one("recommendations", app)
