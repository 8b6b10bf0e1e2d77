"""The review web app: ``create_app(db_path)`` serves the queue, case view and lead views."""
from review_ui.app import create_app

__all__ = ["create_app"]
