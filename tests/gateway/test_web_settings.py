"""The [web] section as a user writes it: one-line errors, `gateway --check`, the demo's page."""

import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from meteolink.gateway import config
from meteolink.gateway.web.settings import WebSettings
from tests.support.tools import find_tool, meteolink, wait_until


def load(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "gateway.toml"
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return config.load(path)


def test_the_page_is_off_unless_the_file_asks(tmp_path: Path) -> None:
    assert config.load(None).web == WebSettings()
    assert not config.load(None).web.on
    web = load(tmp_path, '[web]\nlisten = "127.0.0.1:8080"\n').web
    assert (web.host, web.port, web.password) == ("127.0.0.1", 8080, None)
    assert web.url() == "http://127.0.0.1:8080/"
    web = load(tmp_path, '[web]\nlisten = "[::1]:9000"\n').web
    assert web.url() == "http://[::1]:9000/"
    lan = '[web]\nlisten = "0.0.0.0:8080"\nusername = "staff"\npassword = "x"\n'
    assert load(tmp_path, lan).web.password == "x"
    open_lan = '[web]\nlisten = "192.168.1.5:8080"\nallow_open = true\n'
    assert load(tmp_path, open_lan).web.host == "192.168.1.5"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[web]\nlisten = "8080"\n', "web.listen: '8080': give \"host:port\""),
        ('[web]\nlisten = "127.0.0.1:99999"\n', "web.listen: '127.0.0.1:99999': give"),
        ('[web]\nlisten = "::1:8080"\n', "web.listen: '::1:8080': write an IPv6 address in"),
        ('[web]\nlisten = "gateway.lan:8080"\n', "'gateway.lan' is not an IP address"),
        ("[web]\nlisten = 8080\n", 'web.listen: 8080 is not a string "host:port"'),
        (
            '[web]\nlisten = "0.0.0.0:8080"\n',
            "web.listen: '0.0.0.0:8080' is reachable from the network and there is no"
            " password: give username and password, listen on 127.0.0.1",
        ),
        ('[web]\nlisten = "127.0.0.1:8080"\npassword = "p"\n', "web.username: missing: give"),
        ('[web]\nlisten = "127.0.0.1:8080"\nusername = "u"\n', "web.password: missing: give"),
        ('[web]\nlisten = "127.0.0.1:8080"\nusername = "a:b"\npassword = "p"\n', "without ':'"),
        ('[web]\nlisten = "127.0.0.1:8080"\nusername = "u"\npassword = ""\n', "password: empty"),
        ('[web]\nusername = "u"\npassword = "p"\n', "web.listen: missing: give listen ="),
        ('[web]\nlisten = "127.0.0.1:8080"\nallow_open = "yes"\n', "allow_open: 'yes' is not"),
        ('[web]\nlisten = "127.0.0.1:8080"\nport = 80\n', "web.port: unknown key"),
    ],
)
def test_a_bad_web_section_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    proc = meteolink("gateway", "--config", str(path), "--serial", "/dev/null", "--check")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"meteolink: gateway: {path}: ")
    assert message in lines[0]
    assert '"p"' not in lines[0] and "'p'" not in lines[0]  # never the password


def test_the_web_password_makes_the_file_private(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[web]\nlisten = "127.0.0.1:8080"\nusername = "u"\npassword = "p"\n')
    path.chmod(0o644)
    proc = meteolink("gateway", "--config", str(path), "--serial", "/dev/null", "--check")
    assert proc.returncode == 2
    assert "holds web.password and every user may read it" in proc.stderr


def test_check_prints_the_page_address(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\ndata = "{tmp_path}"\n[web]\nlisten = "127.0.0.1:8090"\n')
    proc = meteolink("gateway", "--config", str(path), "--serial", "/dev/null", "--check")
    assert proc.returncode == 0, proc.stderr
    assert "status page: http://127.0.0.1:8090/ (no password)" in proc.stdout.splitlines()
    path.write_text(f'[gateway]\ndata = "{tmp_path}"\n')
    proc = meteolink("gateway", "--config", str(path), "--serial", "/dev/null", "--check")
    assert "status page: off (give [web] listen to serve it)" in proc.stdout.splitlines()


def test_the_demo_prints_its_page_and_the_page_shows_the_stations() -> None:
    proc = subprocess.Popen(
        [find_tool("meteolink"), "demo", "--interval", "0.2", "--web", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[2].startswith("status page: http://127.0.0.1:"), lines
        url = lines[2].split()[-1]
        overview: dict[str, object] = {}

        def three_with_values() -> bool:
            nonlocal overview
            with urllib.request.urlopen(url + "api/overview", timeout=10) as r:
                overview = json.load(r)
            nodes = overview["nodes"]
            assert isinstance(nodes, list)
            return len(nodes) == 3 and all(n["values"] for n in nodes)

        wait_until(three_with_values, "the demo's three stations on its page")
        nodes = overview["nodes"]
        assert isinstance(nodes, list)
        assert [n["name"] for n in nodes] == [
            "Cēsis school roof",
            "Valmiera bus station",
            "Cēsis school classroom",
        ]
        assert "pm2_5" in nodes[1]["values"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_the_demo_refuses_a_page_beyond_this_machine() -> None:
    proc = meteolink("demo", "--web", "0.0.0.0:8080", "--count", "1")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "meteolink: demo: --web 0.0.0.0:8080: the demo serves its page on this machine only"
        " (give 127.0.0.1:PORT)"
    ]
