"""The overview page in a real headless Chromium, over the real gateway process.

Frames go in on a pseudo-terminal as a LoRa bridge writes them; the gateway
stores them and serves its page; the browser renders it, runs its script,
and the test reads what a person would see.
"""

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from meteolink.firmware import frames
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.status_page import get, page_url
from tests.support.tools import ROOT, wait_until

Browser = Callable[..., WebDriver]
NAMES = {1: "Cēsis school roof", 2: "Valmiera bus station", 3: "Līgatne library"}
DOCS_SCREENSHOT = ROOT / "docs" / "images" / "status-overview.png"


def config(line: Line, *, interval: float = 600, offline_after: float = 3) -> str:
    text = (
        f"offline_after = {offline_after}\ncommit_interval = 0.05\n\n"
        f'[[serial]]\nport = "{line.link}"\n\n[web]\nlisten = "127.0.0.1:0"\n'
    )
    for node, name in NAMES.items():
        text += f'\n[nodes.{node}]\nname = "{name}"\ninterval = {interval}\n'
    return text


def rows(driver: WebDriver) -> dict[int, dict[str, str]]:
    """The overview's table as a person reads it: {node: {column heading: cell text}}."""
    headings = [th.text.strip(" ▲▼") for th in driver.find_elements(By.CSS_SELECTOR, "#nodes th")]
    table = {}
    for tr in driver.find_elements(By.CSS_SELECTOR, "#nodes tbody tr"):
        cells = [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        table[int(tr.get_attribute("data-node") or 0)] = dict(zip(headings, cells, strict=True))
    return table


def order(driver: WebDriver) -> list[int]:
    return [
        int(tr.get_attribute("data-node") or 0)
        for tr in driver.find_elements(By.CSS_SELECTOR, "#nodes tbody tr")
    ]


@pytest.fixture
def fed(gateway: Callable[..., GatewayProcess], line: Line) -> Iterator[tuple[GatewayProcess, str]]:
    """A gateway that stored readings of nodes 1 and 2 (node 3 is listed, never heard)."""
    g = gateway(config(line))
    url = page_url(g)
    line.send(reading(1, 10), rssi=-97, snr=7.5)
    line.send(reading(1, 11), rssi=-95, snr=8.25)  # seq 11: temperature 3.1 °C
    # Node 2 measures 75 °C: outside the plausible range, stored and flagged.
    line.send(frames.encode(2, 40, {"temperature": 75.0, "humidity": 40.0, "battery": 2.9}))
    wait_until(lambda: len(g.stored()) == 3, "three readings stored")
    yield g, url


def test_nodes_fed_through_the_gateway_appear_with_their_values(
    fed: tuple[GatewayProcess, str], chrome: Browser, tmp_path: Path
) -> None:
    _, url = fed
    driver = chrome()
    driver.get(url)
    table = rows(driver)
    assert set(table) == {1, 2, 3}
    one, two, three = table[1], table[2], table[3]
    assert one["Station"].startswith(NAMES[1])
    assert one["Status"] == "reporting"
    assert one["Air temperature"] == "3.1 °C"
    assert one["Relative humidity"] == "80 %RH"
    assert one["Battery"] == "3.1 V"
    assert (one["RSSI"], one["SNR"]) == ("-95 dBm", "8.25 dB")  # the last frame's
    assert one["Lost frames"] == "0 %"
    # The implausible value is shown, flagged, not hidden: nothing is deleted.
    assert two["Air temperature"] == "75 °C ⚑"
    flag = driver.find_element(By.CSS_SELECTOR, 'tr[data-node="2"] .flag')
    assert flag.get_attribute("title") == "outside the plausible range"
    assert (two["RSSI"], two["SNR"]) == ("–", "–")  # heard on a cable: no radio figures
    assert three["Status"] == "never heard"
    assert three["Air temperature"] == "–"
    # The gateway's health: its input with the frames it heard, no upstream.
    health = driver.find_element(By.XPATH, "//section[h2[starts-with(., 'Gateway')]]").text
    assert "Running for" in health
    assert "serial:" in health
    assert "none configured" in health

    driver.save_screenshot(str(tmp_path / "overview.png"))
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / "overview.png", DOCS_SCREENSHOT)


def test_the_table_sorts_by_any_column_with_script_and_without(
    fed: tuple[GatewayProcess, str], chrome: Browser
) -> None:
    _, url = fed
    driver = chrome()
    driver.get(url)
    assert order(driver) == [1, 3, 2]  # by station name: Cēsis, Līgatne, Valmiera
    heading = driver.find_element(By.XPATH, "//th[a[.='Air temperature']]")
    heading.find_element(By.TAG_NAME, "a").click()
    assert order(driver) == [1, 2, 3]  # 3.1 °C, 75 °C, then the node without a value
    assert heading.get_attribute("aria-sort") == "ascending"
    heading.find_element(By.TAG_NAME, "a").click()
    assert order(driver) == [2, 1, 3]  # descending; no value stays last
    # The choice is in the address: a reload (the page's own, every minute) keeps it.
    assert driver.current_url.endswith("?sort=f:temperature&order=desc")
    driver.refresh()
    assert order(driver) == [2, 1, 3]
    # Without JavaScript the same links sort on the server.
    page = get(url + "?sort=battery&order=asc").body.decode()
    assert page.index('data-node="2"') < page.index('data-node="1"') < page.index('data-node="3"')


def test_a_node_that_stops_sending_turns_late_then_offline(
    gateway: Callable[..., GatewayProcess], line: Line, chrome: Browser
) -> None:
    # Interval 4 s, offline after 3 of them: late after 6 s of silence, offline after 12.
    g = gateway(config(line, interval=4, offline_after=3))
    url = page_url(g)
    stop = threading.Event()

    def node_1_goes_on() -> None:
        seq = 1
        while not stop.is_set():
            line.send(reading(1, seq))
            seq += 1
            stop.wait(1.0)

    keeper = threading.Thread(target=node_1_goes_on)
    keeper.start()
    try:
        line.send(reading(2, 1))
        wait_until(lambda: (2, 1) in g.stored(), "node 2's reading stored")
        driver = chrome()

        def status_of(node: int) -> str:
            driver.get(url)
            return rows(driver)[node]["Status"]

        assert status_of(2) == "reporting"
        wait_until(lambda: status_of(2) == "late", "node 2 marked late", timeout=30)
        assert status_of(1) == "reporting"
        row = driver.find_element(By.CSS_SELECTOR, 'tr[data-node="2"]')
        assert row.get_attribute("class") == "stale"  # the row is marked, not only its word
        wait_until(lambda: status_of(2) == "offline", "node 2 marked offline", timeout=30)
        assert status_of(1) == "reporting"
        assert "silent for" in g.log()  # the gateway itself reported it offline too
    finally:
        stop.set()
        keeper.join()


def test_a_phone_size_viewport_renders_without_overflow(
    fed: tuple[GatewayProcess, str], chrome: Browser, tmp_path: Path
) -> None:
    _, url = fed
    driver = chrome(phone=True)
    driver.get(url)
    width = driver.execute_script("return window.innerWidth")
    assert width == 360
    # The page body fits the screen; the wide table scrolls inside its own box.
    body = driver.execute_script("return document.documentElement.scrollWidth")
    assert body <= width
    box = driver.find_element(By.CSS_SELECTOR, ".scroll")
    assert driver.execute_script("return arguments[0].scrollWidth", box) > width
    assert rows(driver)[1]["Air temperature"] == "3.1 °C"
    driver.save_screenshot(str(tmp_path / "overview-phone.png"))


def test_latvian_labels_with_accept_language_lv(
    fed: tuple[GatewayProcess, str], chrome: Browser, tmp_path: Path
) -> None:
    _, url = fed
    driver = chrome(lang="lv")
    driver.get(url)
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "lv"
    assert driver.find_element(By.TAG_NAME, "h2").text == "Stacijas"
    table = rows(driver)
    assert table[1]["Stāvoklis"] == "darbojas"
    assert table[1]["Gaisa temperatūra"] == "3,1 °C"  # a decimal comma
    assert table[3]["Stāvoklis"] == "nav dzirdēta"
    flag = driver.find_element(By.CSS_SELECTOR, 'tr[data-node="2"] .flag')
    assert flag.get_attribute("title") == "ārpus ticamām robežām"
    driver.save_screenshot(str(tmp_path / "overview-lv.png"))
