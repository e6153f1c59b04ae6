"""`storelink mcp` as a desktop client starts it: in a working directory of the client's choosing
(here a read-only one), no STORELINK_DATA_DIR, the settings in the user's `.env`
(`~/.config/storelink/.env`). It serves the configured stores, keeps its data in the user's data
directory, says where both are, and an unwritable data directory is one line naming it, not a
traceback. `STORELINK_ENV_FILE` names the one file to read (a project's `./.env` is then ignored)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from storelink.settings import env_files, load_settings
from tests.support.servers import SRC

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A user's home with its config `.env`, and a read-only working directory elsewhere."""
    config = tmp_path / "home" / ".config" / "storelink"
    config.mkdir(parents=True)
    (config / ".env").write_text(
        "MCP_FORCE_MOCKS=true\nSTORELINK_DEMO_STORES=2\nSTORELINK_DEMO_TODAY=2026-11-24\nSTORELINK_SITE_WARM_UP=false\n"
    )
    cwd = tmp_path / "client-cwd"
    cwd.mkdir()
    cwd.chmod(stat.S_IRUSR | stat.S_IXUSR)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": SRC, "HOME": str(tmp_path / "home")}
    try:
        yield {**env, "cwd": str(cwd)}
    finally:
        cwd.chmod(stat.S_IRWXU)


async def test_mcp_from_a_read_only_directory_serves_the_configured_stores(home: dict[str, str]) -> None:
    cwd = home.pop("cwd")
    before = sorted(os.listdir(cwd))
    params = StdioServerParameters(command=sys.executable, args=["-m", "storelink.main", "mcp"], env=home, cwd=cwd)
    with tempfile.TemporaryFile("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            result = await client.call_tool("shopify_shop_info", {"store": "demo-2"})
            capabilities = await client.call_tool("storelink_capabilities", {})
        errlog.seek(0)
        log = errlog.read()
    assert not result.is_error, result.content
    assert "demo-2" in f"{capabilities.structured_content} {capabilities.content}"  # the user's .env was read
    assert sorted(os.listdir(cwd)) == before  # nothing written where the client started us
    data = Path(home["HOME"]) / ".local" / "share" / "storelink"
    assert (data / "storelink.db").exists()
    assert f"data in {data};" in log and str(Path(home["HOME"]) / ".config/storelink/.env") in log


def test_an_unwritable_data_directory_is_one_line_naming_it(home: dict[str, str], tmp_path: Path) -> None:
    cwd = home.pop("cwd")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**home, "STORELINK_DATA_DIR": str(blocker / "data")}  # under a file: unwritable, even for root
    done = subprocess.run(
        [sys.executable, "-m", "storelink.main", "mcp"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(blocker / "data") in lines[0] and "STORELINK_DATA_DIR" in lines[0]
    assert done.stdout == ""  # stdout is the protocol's


def test_env_files_are_the_users_then_the_working_directorys_or_only_the_named_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "xdg-config" / "storelink" / ".env"  # XDG_CONFIG_HOME is the test's (conftest)
    user.parent.mkdir(parents=True)
    user.write_text("STORELINK_DEMO_STORES=2\nSTORELINK_PORT=9001\n")
    (tmp_path / ".env").write_text("STORELINK_DEMO_STORES=3\n")  # the working directory's wins
    assert env_files() == [user, tmp_path / ".env"]
    settings = load_settings()
    assert (settings.demo_stores, settings.port) == (3, 9001)
    assert settings.data_dir == tmp_path / "xdg-data" / "storelink"
    monkeypatch.setenv("STORELINK_ENV_FILE", str(user))
    assert env_files() == [user]
    assert load_settings().demo_stores == 2
    monkeypatch.setenv("STORELINK_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(FileNotFoundError, match=r"missing\.env"):
        load_settings()
