"""Reading the TOML files an operator names in a setting (the stores file, the MCP keys file)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from storelink.errors import ConfigurationError

__all__ = ["read_toml"]


def read_toml(path: Path, *, setting: str) -> dict[str, Any]:
    """The document at ``path``, or a :class:`ConfigurationError` that names ``setting`` (the
    variable that points at it) and says what is wrong with the file."""
    where = f"{setting}={path}"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{where} does not exist; fix the path or unset it.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{where} cannot be read ({type(exc).__name__}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{where} is not valid TOML: {exc}.") from None
