"""Features service (port 8010): similar tracks from ``similar.parquet``. Built by :func:`create_app`."""

from musicrec.services.features.app import create_app

__all__ = ["create_app"]
