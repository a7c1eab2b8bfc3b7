"""A headless Chromium on the demo page, for its tests and the README screenshot.

Debian's ``chromium`` and ``chromium-driver`` through Selenium, given both paths so that nothing is
downloaded; Chromium's fake microphone plays a wav file once, from when the page opens it.
"""

from __future__ import annotations

import base64
import os
import shutil
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

INSTALL_HINT = "install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"


def find_chromium() -> tuple[str, str] | None:
  """``(chromium, chromedriver)`` paths, or None when either is missing."""
  paths = shutil.which("chromium"), shutil.which("chromedriver")
  return paths if all(paths) else None


def start(paths: tuple[str, str], microphone_wav: str | os.PathLike | None = None,
          window: tuple[int, int] = (1200, 1000)) -> webdriver.Chrome:
  options = webdriver.ChromeOptions()
  options.binary_location = paths[0]
  flags = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
           f"--window-size={window[0]},{window[1]}", "--use-fake-ui-for-media-stream",
           "--use-fake-device-for-media-stream"]
  if microphone_wav is not None:
    flags.append(f"--use-file-for-fake-audio-capture={os.fspath(microphone_wav)}%noloop")
  for flag in flags:
    options.add_argument(flag)
  driver = webdriver.Chrome(options=options, service=Service(paths[1]))
  driver.set_script_timeout(30)
  return driver


def wait(driver: webdriver.Chrome, condition, seconds: float = 60):
  return WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: condition())


def text(driver: webdriver.Chrome, element_id: str) -> str:
  return driver.find_element(By.ID, element_id).text


def open_page(driver: webdriver.Chrome, url: str) -> None:
  """Loads the page and waits until it has asked the server what the models hear."""
  driver.get(url)
  wait(driver, lambda: "Loading" not in text(driver, "hears"), 30)


def result_or_message(driver: webdriver.Chrome, caption: str | None = None) -> str:
  """Waits for a result (with ``caption``, when given) or an error message; returns the message
  ('' for a result)."""
  wait(driver, lambda: text(driver, "message") or (
      text(driver, "caption") == caption if caption is not None else text(driver, "caption")))
  return text(driver, "message")


def record(driver: webdriver.Chrome, seconds: float) -> None:
  """Presses Record, lets the microphone run ``seconds`` and presses Stop."""
  driver.find_element(By.ID, "record").click()
  wait(driver, lambda: "recording" in text(driver, "rec-status") or text(driver, "message"), 15)
  time.sleep(seconds)
  driver.find_element(By.ID, "stop").click()


def shown_images(driver: webdriver.Chrome) -> int:
  """How many result pictures the page shows, decoded."""
  return driver.execute_script(
      "return [...document.querySelectorAll('#images img')]"
      ".filter(img => img.complete && img.naturalWidth > 0).length;")


def screenshot(driver: webdriver.Chrome, path: str) -> str:
  """A PNG of the whole page, below the window's bottom edge too."""
  size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
  shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
      "format": "png", "captureBeyondViewport": True,
      "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "wb") as f:
    f.write(base64.b64decode(shot["data"]))
  return path
