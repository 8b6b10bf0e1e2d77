"""The one error the rules' data files raise: a catalogue, region override or knowledge table that
does not validate. Its message names the file and the key, so whoever edits the file can fix it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class CatalogueError(ValueError):
    """A catalogue, override or knowledge table file is invalid; the message names the file and key."""


def read_yaml(path: Path, missing: str = "文件不存在") -> Any:
    """The parsed file; CatalogueError naming the file when it is missing or not YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(f"{path}: {missing}") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: YAML 格式错误: {exc}") from None
