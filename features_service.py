"""Entry point kept for ``uvicorn features_service:app --port 8010``.

Settings are read when uvicorn imports this module (``MUSICREC_*`` env and ``config.ini``);
``similar.parquet`` is loaded from ``[paths] artifacts_dir`` in the app's lifespan.
"""

from musicrec.services.features import create_app

app = create_app()

if __name__ == "__main__":  # python features_service.py: [serving] host, the port of [urls]
    from musicrec.services.cli import run_one

    run_one("features", app)
