"""Events service (port 8020): the last listens of each user, newest first. Built by :func:`create_app`."""

from musicrec.services.events.app import create_app

__all__ = ["create_app"]
