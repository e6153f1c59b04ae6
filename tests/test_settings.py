"""Settings as documented: every variable docs/configuration.md names can be set and is read, and a
bad value is one clear line that names the variable and never repeats a secret."""

from __future__ import annotations

import datetime as dt
import re
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

from storelink.settings import ConnectorKnobs, Settings, describe_settings, env_name

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|", re.MULTILINE)


def documented_variables() -> list[str]:
    return DOCUMENTED.findall((ROOT / "docs/configuration.md").read_text())


def _fields() -> dict[str, FieldInfo]:
    """Each variable's field: the setting's own, or the knob's inside its connector group."""
    found: dict[str, FieldInfo] = {}
    for name, info in Settings.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, ConnectorKnobs):
            for knob, kinfo in info.annotation.model_fields.items():
                found[f"STORELINK_{name.upper()}_{knob.upper()}"] = kinfo
        else:
            alias = info.validation_alias if isinstance(info.validation_alias, str) else None
            found[alias or f"STORELINK_{name.upper()}"] = info
    return found


def _other_value(info: FieldInfo) -> str:
    """A valid value unlike the default, chosen from the field's type."""
    annotation: Any = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    default = info.default
    if get_origin(annotation) is Literal:
        return str(next(v for v in get_args(annotation) if v != default))
    if annotation is bool:
        return "false" if default else "true"
    if annotation is int:
        return str(default + 1)
    if annotation is float:
        return str(default / 2 if default else 1.5)
    if annotation is dt.date:
        return "2027-03-14"
    if annotation is Path:
        return "/srv/storelink-test"
    if annotation is SecretStr:
        description = (info.description or "").lower()
        if "redis" in description:
            return "redis://:s3cret@127.0.0.1:6379/0"
        if "seal" in description:  # STORELINK_SECRET_KEY: Fernet keys
            return "A" * 43 + "="
        return "postgresql://storelink:s3cret@db.example/storelink" if "postgresql" in description else "s3cret-value"
    if "prefix" in (info.description or "").lower():
        return "store-b:"
    return "https://value.example/" if "http" in str(default) or "url" in (info.description or "").lower() else "x"


def test_the_docs_name_every_setting_and_nothing_else() -> None:
    documented = set(documented_variables())
    assert documented == set(_fields()), "docs/configuration.md and settings.py disagree: run `make docs`"


@pytest.mark.parametrize("variable", documented_variables())
def test_every_documented_variable_can_be_set_and_is_read(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    info = _fields()[variable]
    value = _other_value(info)
    monkeypatch.setenv(variable, value)
    settings = Settings(_env_file=None)
    row = next(r for r in describe_settings(settings) if r.env == variable)
    shown = "********" if row.secret else value
    assert row.value == shown and row.value != row.default, f"{variable}={value} was not read"


@pytest.mark.parametrize("variable", ["STORELINK_SITE_URL", "STORELINK_ZOHO_ACCOUNTS_URL"])
def test_settings_that_share_a_knob_groups_prefix_are_read(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "https://value.example/")
    monkeypatch.setenv("STORELINK_SITE_RATE_LIMIT", "3")
    settings = Settings(_env_file=None)
    assert {settings.site_url, settings.zoho_accounts_url} >= {"https://value.example/"}
    assert settings.site.rate_limit == 3.0


@pytest.mark.parametrize(
    "url", ["redis://:s3cret@[oops", "http://:s3cret@127.0.0.1:6379", "redis://:s3cret@127.0.0.1:99999", "redis://"]
)
def test_a_malformed_redis_url_is_one_clear_error_without_its_password(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("STORELINK_REDIS_URL", url)
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)
    (problem,) = info.value.errors(include_url=False, include_input=False)
    assert env_name(problem["loc"]) == "STORELINK_REDIS_URL"
    assert "redis://[:password@]host" in problem["msg"] and "s3cret" not in problem["msg"]


def test_a_good_redis_url_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_REDIS_URL", "rediss://:s3cret@cache.internal:6380/2")
    settings = Settings(_env_file=None)
    assert settings.redis_url is not None and settings.redis_url.get_secret_value().endswith(":6380/2")
