"""The web UI of `masque serve` in headless Chromium (Debian's chromium +
chromium-driver, driven by selenium): the page loads offline, a message is
sent, the reply streams in (several token spans, coloured by projection),
the persona meter's bar moves, and the steering slider is sent with the
next reply. A screenshot is saved under the test's temporary output
(printed, and kept in the pytest tmp dir) for a person to look at."""
import json
import os
import shutil
import time

import pytest

from serve_util import Server, model_dir_fixture, write_persona_vector

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
# The test command (scripts/quickstart.sh test) installs both; a missing
# browser is a set-up failure, not a reason to pass without checking the UI.
if not (CHROMIUM and DRIVER):
    raise RuntimeError("the web UI test needs Debian's chromium and chromium-driver "
                       "(apt-get install chromium chromium-driver; scripts/quickstart.sh test "
                       "installs them)")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory, masque_run, masque_bin):
    model = model_dir_fixture(tmp_path_factory, masque_run, "serve_ui")
    vec = write_persona_vector(model, model.parent / "kind.safetensors", seed=1)
    s = Server(masque_bin, model, "--vector", f"kindness={vec}", "--parallel", 2,
               log_path=model.parent / "serve.log")
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,800"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def test_chat_streams_and_meter_moves(server, browser, tmp_path):
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".meter[data-vector='kindness']"))
    assert "model" in browser.find_element(By.ID, "model").text
    browser.find_element(By.ID, "system").send_keys("You are Ada.")
    browser.execute_script("document.getElementById('max-tokens').value = '12';"
                           "document.getElementById('temperature').value = '0.8';")
    browser.find_element(By.ID, "input").send_keys("Where does the river go?")
    browser.find_element(By.ID, "send").click()
    wait.until(lambda d: d.find_element(By.ID, "send").is_enabled()
               and d.find_elements(By.CSS_SELECTOR, ".msg.assistant .tok"))
    spans = browser.find_elements(By.CSS_SELECTOR, ".msg.assistant .tok")
    reply = browser.find_element(By.CSS_SELECTOR, ".msg.assistant .body").text
    assert not browser.find_elements(By.CSS_SELECTOR, ".msg.error"), \
        browser.find_element(By.CSS_SELECTOR, ".msg.error").text
    assert reply.strip(), "the reply is empty"
    assert len(spans) > 1, "the reply should arrive as several streamed pieces"
    assert any(s.get_attribute("title") for s in spans), "tokens carry their projection"
    value = browser.find_element(By.CSS_SELECTOR, ".meter .value").text
    assert value != "0.00", "the meter bar should have moved"
    width = browser.execute_script("return document.querySelector('.meter-bar').style.width")
    assert width and width != "0%"

    # Steering: the slider's coefficient goes out with the next reply.
    browser.execute_script("const s = document.querySelector('.steer'); s.value = '3';"
                           "s.dispatchEvent(new Event('input'));")
    browser.find_element(By.ID, "input").send_keys("And the cat?")
    browser.find_element(By.ID, "send").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".msg.assistant")) == 2
               and d.find_element(By.ID, "send").is_enabled())
    errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".msg.error")]
    assert not errors, errors

    shot = tmp_path / "serve_ui.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    keep = os.environ.get("MASQUE_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, os.path.join(keep, "serve_ui.png"))
    assert shot.stat().st_size > 10000

    # The export is the JSONL `masque sft` reads: check the data it is built from.
    messages = browser.execute_script("return state.messages")
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    json.dumps({"messages": messages})
