"""The review console, really started (`vehiclekit console` in its own process) and used through
Debian's Chromium driven by Selenium: label 5 images with the keyboard (with a skip and an undo),
settle one parking case (charged exactly once), see the traffic page; and the request guards
(CSRF token, Origin, Host, loopback only).

Set VEHICLEKIT_SCREENSHOTS=DIR to keep the page screenshots (docs/console_*.png come from here).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pytest

from vehiclekit.apps.parking import ParkingLot
from vehiclekit.apps.results import TrafficEvent
from vehiclekit.apps.store import Store
from vehiclekit.apps.tariff import load_tariff
from vehiclekit.labeling import LabelQueue, LabelStore
from vehiclekit.models.zoo import VEHICLE_TYPES
from vehiclekit.paths import REPO_ROOT

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
TARIFF = REPO_ROOT / "deploy" / "tariff.example.yaml"
INSTALL_HINT = "apt-get install chromium chromium-driver (as root; `make test` does it)"


def unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def world(tmp_path_factory, data_dir) -> dict:
    """A labeling queue written by `train-vehicle select` (the shipped model, BALD) over 7 real
    images; a parking store where a settlement found a car's recorded exit too close to two open
    sessions (the same car and another) and sent it to review; today's traffic."""
    from vehiclekit.training.cli import main as train_vehicle

    tmp = tmp_path_factory.mktemp("console")
    pool = tmp / "pool"
    pool.mkdir()
    for folder in ("car", "truck", "bike"):
        for src in sorted((data_dir / "vehicle-types" / folder).glob("*.jpg"))[:3 if folder == "car" else 2]:
            shutil.copy(src, pool / f"{folder}-{src.name}")
    assert train_vehicle(["select", "--model", "vehicle-type", "--pool", str(pool), "--budget", "7",
                          "--strategy", "bald", "-o", str(tmp / "queue.json")]) == 0
    queue = LabelQueue.load(tmp / "queue.json")
    cars = sorted((data_dir / "vehicle-types" / "car").glob("*.jpg"))
    exit_picture = tmp / "exit.jpg"            # the same car seen the other way round, darker (no plates shown)
    cv2.imwrite(str(exit_picture), cv2.convertScaleAbs(cv2.flip(cv2.imread(str(cars[10])), 1), alpha=0.8))
    store = Store(tmp / "parking.db")
    lot = ParkingLot(load_tariff(TARIFF), store, threshold=0.8, margin=0.05)
    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    same = lot.enter(str(cars[10]), "north", t0, vehicle_type="car", embedding=unit(1, 0.02, 0))
    other = lot.enter(str(cars[11]), "north", t0 + timedelta(minutes=5), vehicle_type="car",
                      embedding=unit(1, -0.02, 0))
    recorded = lot.record_exit(str(exit_picture), "south", t0 + timedelta(hours=2), vehicle_type="car",
                               embedding=unit(1, 0, 0))
    settlement = lot.settle(until=t0 + timedelta(hours=3))     # billing after the stay: too close to call
    assert settlement.receipts == [] and [case.exit_id for case in settlement.review] == [recorded.id]
    ambiguous = settlement.review[0]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    kinds = ("car", "truck", "van")
    entries = [(TrafficEvent(time=today + timedelta(hours=7, minutes=20 * i), gate="north", direction="entry",
                             vehicle_type=kinds[i % 3]), np.eye(16, dtype=np.float32)[i]) for i in range(9)]
    exits = [(TrafficEvent(time=today + timedelta(hours=11, minutes=25 * i), gate="south", direction="exit",
                           vehicle_type=kinds[i % 3]), np.eye(16, dtype=np.float32)[i]) for i in range(0, 9, 2)]
    Store(tmp / "stats.db").add_events(entries + exits)
    return {"tmp": tmp, "queue": tmp / "queue.json", "labels": tmp / "labels.db", "parking": tmp / "parking.db",
            "stats": tmp / "stats.db", "sessions": (same.id, other.id), "review": ambiguous.review_id,
            "exit": recorded.id,
            "images": [Path(item.image) for item in queue.items]}


@pytest.fixture(scope="module")
def console(world):
    """`vehiclekit console` in its own process on a free loopback port: its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "vehiclekit.cli", "console", "--queue", str(world["queue"]),
               "--labels", str(world["labels"]), "--parking-db", str(world["parking"]), "--tariff", str(TARIFF),
               "--stats-db", str(world["stats"]), "--user", "alice", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if match is None:
        process.kill()
        pytest.fail(f"the console did not start: {line}{process.stdout.read()}")
    yield match.group(0).rstrip("/")
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail(f"the console tests need Chromium and ChromeDriver: {INSTALL_HINT}", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def screenshot(driver, name: str) -> None:
    if folder := os.environ.get("VEHICLEKIT_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"console_{name}.png"))


def press(driver, key: str) -> None:
    """Press ``key`` on the page and wait until the page that answers has loaded."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element("tag name", "html")
    ActionChains(driver).send_keys(key).perform()
    WebDriverWait(driver, 10).until(lambda d: old.id != d.find_element("tag name", "html").id)


def shown_image(driver) -> int:
    return int(re.search(r"/label/image/(\d+)", driver.find_element("id", "image").get_attribute("src")).group(1))


def test_label_five_images_with_the_keyboard_including_a_skip_and_an_undo(console, browser, world):
    browser.get(console + "/label")
    assert "0 of 7 labelled" in browser.find_element("id", "progress").text
    car, truck = str(VEHICLE_TYPES.index("car") + 1), str(VEHICLE_TYPES.index("truck") + 1)
    van = str(VEHICLE_TYPES.index("van") + 1)
    screenshot(browser, "label")
    answers = {}
    for key in (car, van):                     # image 0 car, image 1 (wrongly) van
        answers[shown_image(browser)] = key
        press(browser, key)
    press(browser, "u")                        # undo: image 1 is asked again
    assert shown_image(browser) == 1 and "undone" in browser.page_source
    answers[1] = car
    press(browser, car)
    assert shown_image(browser) == 2
    press(browser, "s")                        # skip image 2
    for key in (car, truck, truck):            # images 3, 4, 5
        answers[shown_image(browser)] = key
        press(browser, key)
    assert "5 of 7 labelled" in browser.find_element("id", "progress").text
    current = {Path(r.image): r for r in LabelStore(world["labels"]).current()}
    expected = {world["images"][i]: VEHICLE_TYPES[int(k) - 1] for i, k in answers.items()}
    assert {p: r.label for p, r in current.items()} == {p.resolve(): label for p, label in expected.items()}
    assert {(r.by, r.source) for r in current.values()} == {("alice", "console")}
    assert [r.status for r in LabelStore(world["labels"]).history()].count("undone") == 1


def test_resolve_one_parking_case_through_the_page_charges_it_exactly_once(console, browser, world):
    from selenium.webdriver.common.by import By

    first, _ = world["sessions"]
    match_button = f'#case-{world["review"]} button.match[value="{first}"]'
    browser.get(console + "/parking")
    case = browser.find_element(By.ID, f"case-{world['review']}")
    assert len(case.find_elements(By.TAG_NAME, "img")) == 3           # the exit beside both candidates
    proposal = case.find_element(By.CLASS_NAME, "proposal").text       # what the settlement proposed, and how sure
    assert f"exit {world['exit']}" in proposal and "confidence 0.000" in proposal
    assert all(img.get_property("naturalWidth") > 0 for img in case.find_elements(By.TAG_NAME, "img"))
    screenshot(browser, "parking")
    page_one = browser.current_window_handle
    browser.switch_to.new_window("tab")                                 # a second person has it open too
    browser.get(console + "/parking")
    page_two = browser.current_window_handle
    browser.switch_to.window(page_one)
    browser.find_element(By.CSS_SELECTOR, match_button).click()
    assert "charged" in browser.find_element(By.CLASS_NAME, "flash").text
    assert browser.find_elements(By.ID, "no-cases")
    browser.switch_to.window(page_two)                                  # the stale page, clicked again
    browser.find_element(By.CSS_SELECTOR, match_button).click()
    flash = browser.find_element(By.CLASS_NAME, "flash")
    assert "error" in flash.get_attribute("class") and "resolved" in flash.text
    browser.close()
    browser.switch_to.window(page_one)
    store = Store(world["parking"])
    review, session = store.review(world["review"]), store.session(first)
    assert (review.resolution, review.resolved_session, review.resolved_by) == ("match", first, "alice")
    assert session.status == "closed" and session.fee is not None and session.fee > Decimal(0)
    assert [s.id for s in store.sessions("closed")] == [first]
    assert store.recorded_exit(world["exit"]).status == "charged" and session.exit_id == world["exit"]


def test_traffic_page_shows_todays_counts(console, browser):
    browser.get(console + "/stats")
    plot = browser.find_element("id", "counts")
    assert plot.get_property("naturalWidth") > 0
    text = browser.find_element("tag name", "table").text
    assert re.search(r"north entry car 3", text) and re.search(r"north entry truck 3", text)
    assert re.search(r"south exit car 2", text) and "5 stays matched" in browser.page_source
    screenshot(browser, "stats")


def post(url: str, data: dict, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, urllib.parse.urlencode(data).encode(), headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own loopback console
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_state_changes_need_the_pages_token_and_origin(console, world):
    before = len(LabelStore(world["labels"]).history())
    assert post(console + "/label/6", {"label": "car"}) == 403                          # no token
    assert post(console + "/label/6", {"label": "car", "csrf": "guess"}) == 403        # wrong token
    with urllib.request.urlopen(console + "/label", timeout=10) as page:  # noqa: S310 - our own loopback console
        token = re.search(r'name="csrf" value="([^"]+)"', page.read().decode()).group(1)
    assert post(console + "/label/6", {"label": "car", "csrf": token}, {"Origin": "http://evil.example"}) == 403
    assert post(console + f"/parking/{world['review']}", {"session": "none", "csrf": token},
                {"Origin": "http://evil.example"}) == 403
    assert len(LabelStore(world["labels"]).history()) == before
    request = urllib.request.Request(console + "/label", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - our own loopback console
    assert refused.value.code == 400


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of the sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if Path(table).exists():
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, local_port = local.split(":")
                if state == "0A" and int(local_port, 16) == port:      # 0A: LISTEN
                    found.add(address)
    return found


def test_the_console_listens_on_loopback_only(console):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system")
    assert listening_addresses(int(console.rsplit(":", 1)[1])) == {"0100007F"}         # 127.0.0.1 only


def test_facing_a_network_it_needs_its_password_over_https(tmp_path):
    """`--password-file` + `--tls-cert/--tls-key`: HTTPS only, and nothing without the password."""
    import base64
    import ssl

    cert, key, password = tmp_path / "cert.pem", tmp_path / "key.pem", "correct horse battery staple"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),  # noqa: S607 - the system openssl, fixed arguments
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    (tmp_path / "password").write_text(password + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "vehiclekit.cli", "console", "--labels", str(tmp_path / "l.db"),
                                "--user", "alice", "--port", str(port), "--password-file", str(tmp_path / "password"),
                                "--tls-cert", str(cert), "--tls-key", str(key)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert f"https://127.0.0.1:{port}/" in process.stdout.readline()
        trusted = ssl.create_default_context(cafile=str(cert))

        def get(auth: str | None) -> int:
            headers = {"Authorization": "Basic " + base64.b64encode(f"alice:{auth}".encode()).decode()} if auth else {}
            request = urllib.request.Request(f"https://127.0.0.1:{port}/label", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10, context=trusted) as response:  # noqa: S310 - our own loopback console
                    return response.status
            except urllib.error.HTTPError as e:
                return e.code

        assert get(None) == 401 and get("wrong password") == 401 and get(password) == 200
        with pytest.raises(OSError):                                # plain HTTP is not served (reset or refused)
            urllib.request.urlopen(f"http://127.0.0.1:{port}/label", timeout=10)  # noqa: S310 - our own loopback console
    finally:
        process.terminate()
        process.wait(timeout=10)
