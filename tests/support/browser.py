"""A real headless browser for the status page's tests: Debian's chromium through Selenium.

Both binaries are given explicitly, so Selenium Manager never looks for (or
downloads) a driver or a browser: the tests run offline, on what `make test`
installs (chromium, chromium-driver). A missing one fails the test, never skips.
Each browser gets a fresh profile directory of its own and no network of its
own: no sync, no component updates, no first-run pages.
"""

import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs the tests as root, where the sandbox will not start
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB; chromium wants more
)
__all__ = ["CHROMEDRIVER", "CHROMIUM", "PHONE", "WebDriver", "chrome", "for_the_docs"]
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

PHONE = (360, 740)  # CSS pixels: a small Android phone, the field technician's


def chrome(
    profile: Path, *, lang: str = "en", phone: bool = False, log_requests: bool = False
) -> WebDriver:
    """A headless Chromium, its profile in `profile` (made fresh), asking for `lang`
    (its Accept-Language header); phone: a phone-size viewport, as a phone renders it;
    log_requests: every request the page makes goes to the "performance" log
    (DevTools' network events), for a test that a page asks for nothing."""
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not binary.exists():
            pytest.fail(f"{binary} is missing: apt-get install {package} (make test does)")
    profile.mkdir(parents=True, exist_ok=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--lang={lang}")
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    if log_requests:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    if phone:
        width, height = PHONE
        metrics = {"width": width, "height": height, "pixelRatio": 2.0, "touch": True}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    else:
        options.add_argument("--window-size=1280,900")
    service = Service(
        executable_path=str(CHROMEDRIVER), log_output=str(profile.with_suffix(".driver.log"))
    )
    return webdriver.Chrome(options=options, service=service)


def for_the_docs(screenshot: Path, name: str) -> None:
    """Copy a test's screenshot to docs/images/<name> when METEOLINK_DOCS_SCREENSHOTS=1:
    the docs' pictures are the tests' own, renewed on purpose, and a test run leaves
    the checkout as it was."""
    if os.environ.get("METEOLINK_DOCS_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, DOCS_IMAGES / name)
