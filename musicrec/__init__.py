"""musicrec: a music recommendation backend (training pipeline + three FastAPI services)."""

__version__ = "0.1.0"
