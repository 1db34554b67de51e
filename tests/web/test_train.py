"""Train & models in a real Chromium: a training job started from the page on the gallery,
its progress bar to 100% and its cross-validated scores; a zip enrolled by a job; the
classifier activated, deactivated and deleted from the page.

An SVM needs two people; cross-validation holds out the faces of people with two or more.
The registry photos give Obama three photos and Biden one, which is what the module enrols.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import LiveServer
from playwright.sync_api import expect

from web.conftest import ADMIN_PASSWORD, Console, sign_in_http

PEOPLE = {"Barack Obama": ["obama.jpg", "obama2.jpg", "obama3.jpg"], "Joe Biden": ["biden.jpg"]}


@pytest.fixture(scope="module", autouse=True)
def gallery(console: LiveServer, faces: Path) -> None:
    with console.client() as http:
        csrf = {"X-CSRF-Token": sign_in_http(http, "admin", ADMIN_PASSWORD)}
        for name, photos in PEOPLE.items():
            person = http.post("/v1/identities", json={"name": name}, headers=csrf)
            assert person.status_code == 201, person.text
            for photo in photos:
                image = {"image": (photo, (faces / photo).read_bytes(), "image/jpeg")}
                face = http.post(f"/v1/identities/{person.json()['id']}/faces", headers=csrf,
                                 files=image)
                assert face.status_code == 201, face.text


def test_a_training_started_in_the_page_reaches_100_and_its_classifier_is_switched(
        open_console: Callable[[], Console], faces: Path, tmp_path: Path) -> None:
    browser = open_console()
    page = browser.sign_in()
    page.goto(browser.base + "/ui/train")
    expect(page.locator("#models-empty")).to_be_visible()
    browser.shoot("train-empty")
    page.get_by_label("Cross-validation folds").fill("3")
    page.get_by_role("button", name="Start training").click()
    expect(page.locator("#job-progress .progress-text")).to_contain_text("100%", timeout=60_000)
    job = page.locator("#job")
    expect(job).to_contain_text("Job succeeded")
    expect(job).to_contain_text("Accuracy (held out)")
    expect(job).to_contain_text("People / faces2 / 4")
    expect(job).to_contain_text("not active")
    expect(page.get_by_role("button", name="Cancel the job")).to_be_hidden()
    expect(page.get_by_role("button", name="Deactivate")).to_be_hidden()
    browser.shoot("train-done")

    row = page.locator("#models tbody tr").first
    expect(row).to_contain_text("svm")
    expect(row).to_contain_text("2 / 4")
    row.get_by_role("button", name="Activate").click()
    expect(page.locator("#models-result")).to_contain_text("is active")
    expect(row).to_contain_text("active")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator("#models-result")).to_contain_text("No classifier is active")
    expect(row.get_by_role("button", name="Activate")).to_be_visible()
    expect(page.get_by_role("button", name="Deactivate")).to_be_hidden()

    # A zip enrolled by the job: the partial photo of Obama, and Biden's photo again (a
    # duplicate); kNN, activated when stored.
    archive = tmp_path / "people.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(faces / "obama_partial.jpg", "Barack Obama/partial.jpg")
        zipped.write(faces / "biden.jpg", "Joe Biden/again.jpg")
        zipped.writestr("Joe Biden/notes.jpg", b"not a photo")
    page.get_by_label("enrol a zip of labelled photos first").check()
    page.get_by_label("Zip of photos").set_input_files(str(archive))
    page.get_by_label("Kind").select_option("knn")
    page.get_by_label("activate it when stored").check()
    page.get_by_role("button", name="Start training").click()
    expect(job).to_contain_text("Job succeeded", timeout=60_000)
    expect(job).to_contain_text("Photos: 3")
    expect(job).to_contain_text("refused 1")
    expect(page.get_by_role("table", name="Refused photos")).to_contain_text("notes.jpg")
    expect(job).to_contain_text("identify uses it now")
    knn = page.locator("#models tbody tr", has_text="knn")
    expect(knn).to_contain_text("active")
    browser.shoot("train-models")
    knn.get_by_role("button", name="Delete").click()
    expect(page.locator("dialog.confirm")).to_contain_text("It is active")
    page.locator("dialog.confirm").get_by_role("button", name="Delete").click()
    expect(page.locator("#models-result")).to_contain_text("was deleted")
    expect(page.locator("#models tbody tr")).to_have_count(1)

