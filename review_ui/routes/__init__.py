"""The app's routes, one router per concern. ``review_ui.app`` mounts all but ``login.public``
behind the session check, so handlers may rely on ``request.state.user`` and ``request.state.csrf``."""
