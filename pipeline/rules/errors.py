"""The one error the rules' data files raise: a catalogue, region override or knowledge table that
does not validate. Its message names the file and the key, so whoever edits the file can fix it."""
from __future__ import annotations


class CatalogueError(ValueError):
    """A catalogue, override or knowledge table file is invalid; the message names the file and key."""
