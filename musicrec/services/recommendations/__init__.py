"""The recommendations service: ``create_app`` in :mod:`.app`, indexes in :mod:`.index`."""
