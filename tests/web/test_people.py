"""A person's page and bulk import in a real Chromium: enrol by upload (file picker and drag and
drop) and from the fake webcam, per-file results with the API's codes, delete a face and the
person, and what a viewer may not do."""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import LiveServer
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from web.conftest import ADMIN_PASSWORD, DESKTOP, Console, add_user, sign_in_http
from web.webcam import fit, write_y4m


def no_face_png() -> bytes:
    """A plain drawn picture without a face."""
    image = Image.new("RGB", (320, 240), (90, 140, 200))
    for x in range(0, 320, 40):
        image.paste((240, 220, 80), (x, 100, x + 20, 140))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def drop_files(page: Page, target: str, files: list[tuple[str, bytes, str]]) -> None:
    """Drop files on ``target`` as a user dragging them from a file manager does."""
    payload = [{"name": n, "type": t, "data": base64.b64encode(b).decode()} for n, b, t in files]
    transfer = page.evaluate_handle("""(files) => {
        const dt = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], f.name, {type: f.type}));
        }
        return dt;
    }""", payload)
    page.dispatch_event(target, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(target, "drop", {"dataTransfer": transfer})


def results(page: Page) -> list[list[str]]:
    rows = page.locator("#upload-results tbody tr")
    return [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
            for i in range(rows.count())]


def sign_in(console: Console, name: str, password: str) -> Page:
    """Sign in and wait until the sign-in page is left (the frame's helper can return while
    the sign-in request is still in flight)."""
    page = console.open("/ui/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/ui/login" not in url, timeout=15_000)
    page.wait_for_load_state("networkidle")
    return page


def confirm(page: Page, *expected: str) -> None:
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    for text in expected:
        expect(dialog).to_contain_text(text)
    dialog.locator("button.danger").click()


def test_an_admin_enrols_by_upload_and_webcam_then_deletes_a_face_and_the_person(
        console: LiveServer, open_console: Callable[[], Console], faces: Path) -> None:
    with console.client() as http:  # somebody else is in the gallery
        csrf = sign_in_http(http, "admin", ADMIN_PASSWORD)
        joe = http.post("/v1/identities", json={"name": "Joe"}, headers={"X-CSRF-Token": csrf})
        http.post(f"/v1/identities/{joe.json()['id']}/faces", headers={"X-CSRF-Token": csrf},
                  files={"image": ("biden.jpg", (faces / "biden.jpg").read_bytes())})
    browser = open_console()
    page = sign_in(browser, "admin", ADMIN_PASSWORD)
    page.get_by_label("Name of the new person").fill("Barack Obama")
    page.get_by_role("button", name="Add person").click()
    page.locator("#create-result a", has_text="Barack Obama").click()
    page.wait_for_url("**/ui/people/*")
    expect(page.get_by_role("heading", name="Barack Obama")).to_be_visible()
    expect(page.locator("#faces-empty")).to_contain_text("No faces yet")

    # two photos at once through the file picker (a real <input type=file multiple>)
    page.get_by_label("Choose photos").set_input_files([faces / "obama.jpg",
                                                       faces / "obama3.jpg"])
    expect(page.locator("#upload-results tr.enrolled")).to_have_count(2, timeout=60_000)
    assert [r[:2] for r in results(page)] == [["obama.jpg", "enrolled"],
                                              ["obama3.jpg", "enrolled"]]
    assert all("px · sharpness" in r[2] for r in results(page))
    expect(page.locator("#faces .chip img")).to_have_count(2)
    expect(page.locator("#fact-faces")).to_have_text("2")
    expect(page.locator("#faces .chip").first).to_contain_text("Detection score")
    assert page.locator("#faces .chip img").first.evaluate("i => i.naturalWidth") == 150
    browser.shoot("person")

    # dropped on the drop zone: no face, another person, the same photo again
    drop_files(page, "#drop", [("drawing.png", no_face_png(), "image/png"),
                               ("biden.jpg", (faces / "biden.jpg").read_bytes(), "image/jpeg"),
                               ("obama.jpg", (faces / "obama.jpg").read_bytes(), "image/jpeg")])
    expect(page.locator("#upload-results tbody tr")).to_have_count(5)
    expect(page.locator("#upload-results tr.pending")).to_have_count(0, timeout=60_000)
    rows = results(page)[2:]
    assert rows[0][:2] == ["drawing.png", "NO_FACE_FOUND"], rows
    # Biden's photo given to Obama: enrolled, with the warning that it is nearer Joe.
    assert rows[1][:2] == ["biden.jpg", "enrolled, but check it"], rows
    assert "CLOSER_TO_ANOTHER_PERSON" in rows[1][2] and "'Joe'" in rows[1][2], rows
    assert rows[2][:2] == ["obama.jpg", "DUPLICATE_FACE"], rows
    expect(page.locator("#faces .chip")).to_have_count(3)
    browser.shoot("person-upload-results")

    # delete the wrong face (Biden's: the newest)
    page.locator("#faces .chip").last.get_by_role("button", name="Delete face").click()
    confirm(page, "chip", "descriptor", "cannot be undone")
    expect(page.locator("#faces .chip")).to_have_count(2)
    expect(page.locator("#notice")).to_contain_text("Face deleted")

    # the webcam (obama2.jpg held before the camera): checked, then enrolled by itself
    page.get_by_role("button", name="Start camera").click()
    expect(page.locator("#camera-result")).to_contain_text("Enrolled from the webcam",
                                                           timeout=60_000)
    expect(page.locator("#camera-hint")).to_contain_text("camera is off")
    expect(page.get_by_label("The frame that was enrolled")).to_be_visible()
    assert page.evaluate("document.getElementById('camera').srcObject") is None
    expect(page.locator("#fact-faces")).to_have_text("3")
    expect(page.locator("#faces .chip img")).to_have_count(3)
    browser.shoot("person-webcam")

    # metadata is validated before it is sent, then saved
    page.get_by_label("Metadata (a JSON object)").fill("{not json")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#edit-result")).to_contain_text("INVALID_JSON")
    page.get_by_label("Metadata (a JSON object)").fill('{"team": "blue"}')
    page.get_by_label("External id").fill("E-44")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#edit-result")).to_contain_text("Saved")
    expect(page.locator("#fact-external")).to_have_text("E-44")

    expect(page.locator("#fact-consent")).to_have_text("not recorded")
    expect(page.locator("#fact-expires")).to_contain_text("never")
    with page.expect_download() as download:  # the person's own data, as a zip
        page.get_by_role("button", name="Export their data (zip)").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        assert len([n for n in archive.namelist() if n.startswith("chips/")]) == 3

    page.get_by_role("button", name="Delete person").click()
    confirm(page, "Barack Obama", "3 faces", "chips and descriptors", "cannot be undone")
    receipt = page.locator("#receipt")  # the erasure receipt, on the page it was erased from
    expect(receipt).to_be_visible()
    expect(page.get_by_role("heading", name="Erasure receipt")).to_be_visible()
    facts = receipt.locator("dd").all_inner_texts()
    assert facts[1:7] == ["3", "3", "0", "0", facts[5], "0"] and int(facts[5]) == 0, facts
    assert facts[8] == "admin" and "Barack Obama" not in receipt.inner_text()
    expect(page.locator("#person")).to_be_hidden()
    browser.shoot("person-erased")
    receipt.get_by_role("link", name="Back to all people").click()
    page.wait_for_url("**/ui/people")
    expect(page.locator("#people")).to_contain_text("Joe")
    expect(page.locator("#people")).not_to_contain_text("Barack Obama")


def test_a_viewer_sees_no_enrol_controls_on_a_person_and_a_forged_delete_is_refused(
        console: LiveServer, open_console: Callable[[], Console], faces: Path) -> None:
    with console.client() as http:
        csrf = sign_in_http(http, "admin", ADMIN_PASSWORD)
        person = http.post("/v1/identities", json={"name": "Joe Biden"},
                           headers={"X-CSRF-Token": csrf}).json()
        enrolled = http.post(f"/v1/identities/{person['id']}/faces",
                             files={"image": ("biden.jpg", (faces / "biden.jpg").read_bytes())},
                             headers={"X-CSRF-Token": csrf})
        assert enrolled.status_code == 201, enrolled.text
    add_user(console, "violet", "viewer", "viewer-password-2")
    browser = open_console()
    sign_in(browser, "violet", "viewer-password-2")
    page = browser.open(f"/ui/people/{person['id']}")
    expect(page.get_by_role("heading", name="Joe Biden")).to_be_visible()
    expect(page.locator("#faces .chip img")).to_have_count(1)
    for name in ("Delete person", "Delete face", "Start camera", "Save"):
        assert page.get_by_role("button", name=name).count() == 0, name
    assert page.locator("input[type=file]").count() == 0
    forged = page.evaluate("""async (id) => {
        const token = document.querySelector('meta[name=csrf-token]').content;
        const r = await fetch('/v1/identities/' + id, {method: 'DELETE',
            headers: {'X-CSRF-Token': token}});
        return [r.status, (await r.json()).error.code];
    }""", person["id"])
    assert forged == [403, "FORBIDDEN"]
    browser.shoot("person-viewer")
    page.goto(browser.base + "/ui/import")  # needs enrol: refused, and not in the nav
    assert "your role does not hold" in page.content()
    assert page.locator("#nav").get_by_role("link", name="Import").count() == 0
    with console.client() as http:
        sign_in_http(http, "violet", "viewer-password-2")
        for path in (f"/ui/people/{person['id']}", "/ui/import", "/ui/static/js/zip.js"):
            answer = http.get(path)
            assert "script-src 'self'" in answer.headers["content-security-policy"], path
    assert httpx.get(console.url + f"/ui/people/{person['id']}").status_code == 303


def test_a_bulk_import_shows_its_progress_and_a_report_with_its_csv(
        open_console: Callable[[], Console], faces: Path, tmp_path: Path) -> None:
    archive = tmp_path / "people.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(faces / "obama.jpg", "obama/obama.jpg")
        out.write(faces / "obama3.jpg", "obama/obama3.jpg")
        out.write(faces / "biden.jpg", "biden/biden.jpg")
        out.writestr("nobody/drawing.png", no_face_png())
    console = open_console()
    page = sign_in(console, "admin", ADMIN_PASSWORD)
    page.locator("#nav").get_by_role("link", name="Import").click()
    page.wait_for_url("**/ui/import")
    page.get_by_label("A zip of photos").set_input_files(archive)
    expect(page.locator("#chosen")).to_contain_text("people.zip")
    page.get_by_role("button", name="Start import").click()
    expect(page.get_by_label("Import progress")).to_be_visible()
    console.shoot("import-progress")
    expect(page.locator(".progress-text")).to_have_text("100% (4 of 4)", timeout=90_000)
    expect(page.locator("#report tbody tr")).to_have_count(4)
    rows = {cells[0]: cells[1:3] for cells in (
        [c.strip() for c in page.locator("#report tbody tr").nth(i).locator("td")
         .all_inner_texts()] for i in range(4))}
    assert rows == {"obama/obama.jpg": ["obama", "enrolled"],
                    "obama/obama3.jpg": ["obama", "enrolled"],
                    "biden/biden.jpg": ["biden", "enrolled"],
                    "nobody/drawing.png": ["nobody", "NO_FACE_FOUND"]}, rows
    expect(page.locator("#job-counts")).to_contain_text("3 enrolled, 0 already enrolled, 1 refused")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download CSV").click()
    report = list(csv.DictReader(io.StringIO(Path(downloading.value.path()).read_text())))
    assert sorted((r["file"], r["outcome"]) for r in report) == sorted(
        (file, outcome) for file, (_, outcome) in rows.items())
    console.shoot("import-report")
    # the people were created: the report links to them
    page.locator("#report a", has_text="biden").click()
    expect(page.locator("#fact-faces")).to_have_text("1")

    # folders are zipped in the browser (store-only) and read by the same import
    folder = tmp_path / "more" / "biden"
    folder.mkdir(parents=True)
    (folder / "biden.jpg").write_bytes((faces / "biden.jpg").read_bytes())
    page = console.open("/ui/import")
    page.get_by_label("…or folders of photos", exact=False).set_input_files(folder)
    expect(page.locator("#chosen")).to_contain_text("1 photos from biden")
    page.get_by_role("button", name="Start import").click()
    expect(page.locator(".progress-text")).to_have_text("100% (1 of 1)", timeout=60_000)
    expect(page.locator("#report tbody tr")).to_contain_text(["DUPLICATE_FACE"])


def test_a_face_too_small_for_the_webcam_rule_is_told_to_come_closer(
        console: LiveServer, launch: Callable[[Path], Browser], faces: Path,
        tmp_path: Path) -> None:
    """obama2.jpg held far from the camera (its face ~10% of the frame's width): the page asks
    to move closer and enrols nothing; leaving the camera on, Stop ends its tracks."""
    far = fit(Image.open(faces / "obama2.jpg"), scale=0.5)
    video = write_y4m([far] * 20, tmp_path / "far.y4m", fps=10)
    context = launch(video).new_context(viewport=DESKTOP)
    context.grant_permissions(["camera"], origin=console.url)
    browser = Console(context, console.url)
    try:
        with console.client() as http:
            csrf = sign_in_http(http, "admin", ADMIN_PASSWORD)
            person = http.post("/v1/identities", json={"name": "Far Away"},
                               headers={"X-CSRF-Token": csrf}).json()
        sign_in(browser, "admin", ADMIN_PASSWORD)
        page = browser.open("/ui/people/no-such-person")
        expect(page.locator("#notice")).to_contain_text("IDENTITY_NOT_FOUND")
        page = browser.open(f"/ui/people/{person['id']}")
        page.get_by_role("button", name="Start camera").click()
        expect(page.locator("#camera-hint")).to_have_text("Move closer to the camera.",
                                                          timeout=30_000)
        expect(page.locator("#camera-box")).to_be_visible()  # the face seen, outlined
        assert page.evaluate("""() => document.getElementById('camera').srcObject
            .getVideoTracks()[0].readyState""") == "live"
        page.get_by_role("button", name="Stop camera").click()
        expect(page.locator("#camera-hint")).to_have_text("The camera is off.")
        assert page.evaluate("document.getElementById('camera').srcObject") is None
        expect(page.locator("#fact-faces")).to_have_text("0")
        assert browser.errors == []
    finally:
        context.close()
