"""The web app's HTTP API (mien.web), through FastAPI's TestClient: every endpoint, every
kind of bad request, the same bytes as the CLI, and video jobs to done and to cancelled."""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient prefers httpx2; httpx works
    from fastapi.testclient import TestClient

from PIL import Image  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mien.cli import app as cli  # noqa: E402
from mien.controls.registry import CONTROLS  # noqa: E402
from mien.web import create_app  # noqa: E402
from mien.web.store import SessionStore  # noqa: E402
from mien.web.uploads import ApiError  # noqa: E402

DATA = Path(__file__).parent / "data"
NEUTRAL = DATA / "london" / "020" / "neutral.jpg"
HAPPY = DATA / "london" / "020" / "happy.jpg"
OTHER = DATA / "london" / "036" / "neutral.jpg"
CLIP = DATA / "video" / "man_neutral_to_smile.mp4"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(tmp_dir=tmp_path_factory.mktemp("web"))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def upload(client, path: Path, name: str | None = None):
    with open(path, "rb") as f:
        return client.post("/api/sessions", files={"photo": (name or path.name, f, "image/jpeg")})


@pytest.fixture(scope="module")
def neutral(client):
    r = upload(client, NEUTRAL)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def happy(client):
    r = upload(client, HAPPY)
    assert r.status_code == 201, r.text
    return r.json()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def assert_error(r, status: int, param: str | None = None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "param", "allowed"}
    assert body["error"] and "Traceback" not in body["error"]
    if param is not None:
        assert body["param"] == param, body
    return body


# -- controls, page, docs --------------------------------------------------------------

def test_controls_come_from_the_registry(client):
    body = client.get("/api/controls").json()
    assert [c["name"] for c in body["controls"]] == [c.name for c in CONTROLS]
    smile = next(c for c in body["controls"] if c["name"] == "smile")
    assert (smile["low"], smile["high"], smile["default"], smile["kind"]) == (-1.0, 1.0, 0.0, "slider")
    assert "happy" in body["emotions"] and "neutral" in body["emotions"]
    assert "12" in body["aus"] and "43" in body["aus"]
    assert body["regions"] == ["mouth", "eyes", "brows", "all"]


def test_page_docs_and_health(client, tmp_path):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ("/api/sessions", "/api/sessions/{sid}/preview", "/api/edit", "/api/transfer", "/api/videos",
                 "/api/jobs/{jid}", "/api/presets/check"):
        assert path in spec["paths"]
    assert client.get("/api/health").json()["ok"] is True
    assert_error(client.get("/api/nothing"), 404)
    # Without the page installed, / still answers with a placeholder; /static serves files.
    (tmp_path / "hello.css").write_text("body{}")
    app = create_app(static_dir=tmp_path, tmp_dir=tmp_path / "t", warm_up=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert "not installed" in c.get("/").text
        assert c.get("/static/hello.css").text == "body{}"
        assert c.get("/static/../../etc/passwd").status_code == 404


def test_foreign_host_and_origin_refused(client):
    # A DNS-rebinding page reaches 127.0.0.1 under its own host name: refused.
    assert client.get("/api/health", headers={"host": "evil.example"}).status_code == 400
    # Another site's page posting from the user's browser: refused; the page itself may post.
    assert_error(client.post("/api/presets/check", json={"mien_preset": 1},
                             headers={"origin": "http://evil.example"}), 403, "origin")
    ok = client.post("/api/presets/check", json={"mien_preset": 1}, headers={"origin": "http://127.0.0.1"})
    assert ok.status_code == 200


# -- sessions ---------------------------------------------------------------------------

def test_session_upload_faces_and_photo(client, neutral):
    assert neutral["width"] == neutral["height"] == 1350 and neutral["format"] == "JPEG"
    assert neutral["name"] == "neutral"
    (face,) = neutral["faces"]
    x0, y0, x1, y1 = face["box"]
    assert 0 <= x0 < x1 <= 1350 and 0 <= y0 < y1 <= 1350 and face["size"] > 200
    assert isinstance(face["code"], dict)
    again = client.get(f"/api/sessions/{neutral['id']}").json()
    assert again["faces"] == neutral["faces"]
    r = client.get(f"/api/sessions/{neutral['id']}/photo")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert float(r.headers["x-scale"]) == 1.0
    assert decode(r.content).shape == (1350, 1350, 3)


def test_large_photo_shown_at_1600(client, tmp_path):
    big = np.asarray(Image.open(NEUTRAL).resize((2400, 2400)))
    r = client.post("/api/sessions", files={"photo": ("big.png", png_bytes(big), "image/png")})
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "PNG"
    shown = client.get(f"/api/sessions/{r.json()['id']}/photo")
    assert decode(shown.content).shape == (1600, 1600, 3)
    assert float(shown.headers["x-scale"]) == pytest.approx(1600 / 2400)
    assert client.delete(f"/api/sessions/{r.json()['id']}").status_code == 204


def test_preview_follows_the_slider(client, neutral):
    sid = neutral["id"]
    r0 = client.post(f"/api/sessions/{sid}/preview", json={"face": 0, "controls": {}})
    r1 = client.post(f"/api/sessions/{sid}/preview", json={"face": 0, "controls": {"smile": 0.8}})
    assert r0.status_code == r1.status_code == 200, r1.text
    assert r1.headers["content-type"] == "image/jpeg" and float(r1.headers["x-render-ms"]) > 0
    x0, y0, x1, y1 = map(int, r1.headers["x-crop"].split(","))
    box = neutral["faces"][0]["box"]
    assert x0 <= box[0] and y0 <= box[1] and x1 >= box[2] and y1 >= box[3]
    a, b = decode(r0.content).astype(int), decode(r1.content).astype(int)
    assert a.shape == b.shape and abs(a.shape[1] / a.shape[0] - (x1 - x0) / (y1 - y0)) < 0.02
    assert np.abs(a - b).mean() > 0.3  # the smile moved pixels
    # The same request gives the same preview (nothing leaks between requests).
    again = client.post(f"/api/sessions/{sid}/preview", json={"face": 0, "controls": {"smile": 0.8}})
    assert again.content == r1.content


def test_stale_preview_is_skipped(client, happy):
    sid = happy["id"]
    assert client.post(f"/api/sessions/{sid}/preview", json={"controls": {"smile": 0.1}, "seq": 5}).status_code == 200
    assert_error(client.post(f"/api/sessions/{sid}/preview", json={"controls": {"smile": 0.2}, "seq": 4}), 409, "seq")
    assert client.post(f"/api/sessions/{sid}/preview", json={"controls": {"smile": 0.2}, "seq": 6}).status_code == 200


def test_render_is_the_cli_result(client, neutral, tmp_path):
    controls = {"emotion": "happy", "intensity": 0.6, "blink": 0.3, "au": {"2": 0.4}}
    r = client.post(f"/api/sessions/{neutral['id']}/render", json={"face": 0, "controls": controls})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["content-disposition"] == 'attachment; filename="neutral-mien.jpg"'
    out = tmp_path / "cli.jpg"
    res = CliRunner().invoke(cli, ["edit", str(NEUTRAL), "-o", str(out), "--emotion", "happy", "--intensity", "0.6",
                                   "--blink", "0.3", "--au", "2=0.4"])
    assert res.exit_code == 0, res.output
    assert r.content == out.read_bytes()
    # /api/edit: the same bytes again, from one call.
    with open(NEUTRAL, "rb") as f:
        e = client.post("/api/edit", files={"photo": ("neutral.jpg", f, "image/jpeg")},
                        data={"controls": '{"emotion": "happy", "intensity": 0.6, "blink": 0.3, "au": {"2": 0.4}}'})
    assert e.status_code == 200, e.text
    assert e.content == out.read_bytes()


def test_transfer_and_burst_are_the_cli_result(client, neutral, happy, tmp_path):
    out = tmp_path / "eyes.jpg"
    res = CliRunner().invoke(cli, ["transfer", str(NEUTRAL), "--eyes", str(HAPPY), "--mouth", str(HAPPY),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    with open(NEUTRAL, "rb") as p, open(HAPPY, "rb") as e1, open(HAPPY, "rb") as e2:
        r = client.post("/api/transfer", files={"pose": ("neutral.jpg", p, "image/jpeg"),
                                                "eyes": ("happy.jpg", e1, "image/jpeg"),
                                                "mouth": ("happy.jpg", e2, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.content == out.read_bytes()
    # The page's burst: eyes and mouth from the happy session, rendered on the neutral one.
    burst = {"eyes": happy["id"], "mouth": happy["id"]}
    b = client.post(f"/api/sessions/{neutral['id']}/render", json={"burst": burst})
    assert b.status_code == 200, b.text
    assert b.content == out.read_bytes()
    p = client.post(f"/api/sessions/{neutral['id']}/preview", json={"burst": burst})
    plain = client.post(f"/api/sessions/{neutral['id']}/preview", json={})
    assert p.status_code == 200 and np.abs(decode(p.content).astype(int) - decode(plain.content)).mean() > 0.3


def test_transfer_refuses_another_person(client):
    with open(NEUTRAL, "rb") as p, open(OTHER, "rb") as e:
        r = client.post("/api/transfer", files={"pose": ("a.jpg", p, "image/jpeg"),
                                                "expression": ("b.jpg", e, "image/jpeg")})
    assert_error(r, 422)
    assert "different person" in r.json()["error"]
    with open(NEUTRAL, "rb") as p:
        assert_error(client.post("/api/transfer", files={"pose": ("a.jpg", p, "image/jpeg")}), 422, "expression")


def test_suggest_sees_the_smile(client, neutral, happy):
    a = client.get(f"/api/sessions/{neutral['id']}/suggest").json()["faces"][0]
    b = client.get(f"/api/sessions/{happy['id']}/suggest").json()["faces"][0]
    assert b["smile"] > a["smile"] + 0.3
    assert 0.8 <= a["eyes_open"] <= 1.0 and a["sharpness"] > 0


def test_delete_session(client):
    sid = upload(client, OTHER).json()["id"]
    assert client.delete(f"/api/sessions/{sid}").status_code == 204
    assert_error(client.get(f"/api/sessions/{sid}/photo"), 404, "session")
    assert_error(client.delete(f"/api/sessions/{sid}"), 404)


# -- bad requests -------------------------------------------------------------------------

def test_wrong_type_is_415(client):
    r = client.post("/api/sessions", files={"photo": ("notes.jpg", b"hello, not a photo", "image/jpeg")})
    assert_error(r, 415, "photo")
    with open(CLIP, "rb") as f:
        assert_error(client.post("/api/sessions", files={"photo": ("clip.jpg", f, "image/jpeg")}), 415, "photo")
    with open(NEUTRAL, "rb") as f:
        assert_error(client.post("/api/videos", files={"video": ("x.mp4", f, "video/mp4")}), 415, "video")
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    body = assert_error(client.post("/api/edit", files={"photo": ("a.gif", gif.getvalue(), "image/gif")}), 415)
    assert "JPEG" in body["allowed"]


def test_corrupt_photo_is_422_without_server_paths(client):
    data = NEUTRAL.read_bytes()[:3000]  # a JPEG header, then nothing
    body = assert_error(client.post("/api/sessions", files={"photo": ("../../cut.jpg", data, "image/jpeg")}), 422)
    assert body["error"].startswith("cut.jpg: ") and "/" not in body["error"]


def test_too_large_is_413(tmp_path):
    app = create_app(max_photo_bytes=50_000, tmp_dir=tmp_path, warm_up=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        data = NEUTRAL.read_bytes()
        assert len(data) > 50_000
        assert_error(c.post("/api/sessions", files={"photo": ("n.jpg", data, "image/jpeg")}), 413, "photo")

        # Far over the limit: refused from Content-Length before the body is read.
        huge = b"\xff\xd8\xff" + b"\0" * 2_000_000
        body = assert_error(c.post("/api/sessions", files={"photo": ("n.jpg", huge, "image/jpeg")}), 413)
        assert body["param"] == "body"

        # No Content-Length (chunked): counted while it streams in, refused past the limit.
        def chunks():
            yield (b"--xx\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"n.jpg\"\r\n"
                   b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff")
            for _ in range(40):
                yield b"\0" * 100_000
            yield b"\r\n--xx--\r\n"

        r = c.post("/api/sessions", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xx"})
        assert_error(r, 413, "body")
        assert c.get("/api/health").status_code == 200  # still serving
        # JSON bodies are small: 1 MB at most.
        assert c.post("/api/presets/check", content=b"{" + b" " * 1_100_000 + b"}",
                      headers={"content-type": "application/json"}).status_code == 413
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # no upload left behind


def test_no_face_is_422(client):
    blank = png_bytes(np.full((400, 300, 3), 200, np.uint8))
    body = assert_error(client.post("/api/sessions", files={"photo": ("blank.png", blank, "image/png")}), 422)
    assert "no face" in body["error"]
    r = client.post("/api/edit", files={"photo": ("blank.png", blank, "image/png")},
                    data={"controls": '{"smile": 0.5}'})
    assert "no face found in the photo blank.png" in assert_error(r, 422)["error"]


def test_bad_controls_are_422(client, neutral):
    url = f"/api/sessions/{neutral['id']}/preview"
    body = assert_error(client.post(url, json={"controls": {"grin": 0.5}}), 422, "grin")
    assert "smile" in body["allowed"]
    assert_error(client.post(url, json={"controls": {"grin": 0}}), 422, "grin")  # even at zero
    assert assert_error(client.post(url, json={"controls": {"smile": 1.5}}), 422, "smile")["allowed"] == "-1 to 1"
    assert_error(client.post(url, json={"controls": {"yaw": 40}}), 422, "yaw")
    assert_error(client.post(url, json={"controls": {"smile": "lots"}}), 422, "smile")
    assert_error(client.post(url, json={"controls": {"emotion": "bored"}}), 422, "emotion")
    assert_error(client.post(url, json={"controls": {"au": {"99": 0.5}}}), 422, "au")
    assert_error(client.post(url, json={"controls": {"neutralize": "yes"}}), 422, "neutralize")
    assert_error(client.post(url, json={"face": 3}), 422, "face")
    assert_error(client.post(url, json={"face": 0, "extra": 1}), 422, "extra")
    assert_error(client.post(url, content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert_error(client.post(url, json={"controls": {"smile": 0.5}, "burst": {"eyes": neutral["id"]}}), 422, "burst")
    assert_error(client.post(url, json={"burst": {"strength": 1}}), 422, "burst")
    assert_error(client.post(url, json={"burst": {"eyes": "gone"}}), 404)
    assert_error(client.post(url, json={"burst": {"eyes": neutral["id"], "strength": 2}}), 422, "strength")
    assert_error(client.post(f"/api/sessions/{neutral['id']}/render", json={"face": "both"}), 422, "face")
    with open(NEUTRAL, "rb") as f:
        r = client.post("/api/edit", files={"photo": ("n.jpg", f, "image/jpeg")}, data={"controls": "{smile"})
    assert_error(r, 422, "controls")
    assert_error(client.post("/api/edit", data={"controls": "{}"}), 422, "photo")


def test_unknown_session_and_job_are_404(client):
    for r in (client.get("/api/sessions/nope/photo"), client.post("/api/sessions/nope/preview", json={}),
              client.post("/api/sessions/nope/render", json={}), client.get("/api/sessions/nope/suggest")):
        assert_error(r, 404, "session")
    for r in (client.get("/api/jobs/nope"), client.post("/api/jobs/nope/cancel"),
              client.get("/api/jobs/nope/download")):
        assert_error(r, 404, "job")


def test_presets(client):
    preset = {"mien_preset": 1, "controls": {"emotion": "happy", "intensity": 0.5, "smile": 0.2, "au": {"12": 0.3}}}
    r = client.post("/api/presets/check", json=preset)
    assert r.status_code == 200 and r.json() == {"ok": True, "controls": preset["controls"]}
    assert_error(client.post("/api/presets/check", json={"mien_preset": 2, "controls": {}}), 422, "mien_preset")
    assert_error(client.post("/api/presets/check", json={"mien_preset": 1, "controls": {"smile": 9}}), 422, "smile")
    assert_error(client.post("/api/presets/check", json={"controls": {}}), 422, "mien_preset")


def test_internal_errors_are_json_500(client, neutral, monkeypatch):
    import mien.web.app as web_app

    def boom(_state):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(web_app, "suggestion", boom)
    body = assert_error(client.get(f"/api/sessions/{neutral['id']}/suggest"), 500)
    assert "secret" not in body["error"]


def test_session_store_is_an_lru_with_expiry():
    now = [0.0]
    store = SessionStore(max_sessions=2, ttl=10, grace=0, clock=lambda: now[0])
    a, b = store.add("A", None, "a"), store.add("B", None, "b")
    store.get(a.id)  # a used more recently than b
    c = store.add("C", None, "c")
    with pytest.raises(ApiError):
        store.get(b.id)
    assert store.get(a.id).session == "A" and store.get(c.id).session == "C"
    now[0] = 5
    store.get(c.id)
    now[0] = 12  # a idle 12 s, c 7 s
    with pytest.raises(ApiError) as info:
        store.get(a.id)
    assert info.value.status == 404
    assert store.get(c.id).session == "C" and len(store) == 1


# -- video --------------------------------------------------------------------------------

def wait_for(client, jid: str, until, timeout: float = 60.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = client.get(f"/api/jobs/{jid}").json()
        if until(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {jid} still {status} after {timeout} s")


def test_video_job_runs_to_done_and_downloads(client, tmp_path):
    from mien.io import read_video

    with open(CLIP, "rb") as f:
        r = client.post("/api/videos", files={"video": ("man.mp4", f, "video/mp4")},
                        data={"keyframes": "0s:none, 1s:happy@0.6"})
    assert r.status_code == 202, r.text
    jid = r.json()["job"]
    status = wait_for(client, jid, lambda s: s["status"] in ("done", "failed", "cancelled"))
    assert status["status"] == "done", status
    assert status["done"] == status["total"] == 72 and status["summary"]["edited"] > 0
    assert not client.app.state.jobs.get(jid).downloaded
    d = client.get(f"/api/jobs/{jid}/download")
    assert d.status_code == 200 and d.headers["content-type"] == "video/mp4"
    assert 'filename="man-mien.mp4"' in d.headers["content-disposition"]
    assert client.app.state.jobs.get(jid).downloaded  # claimed once sent: first to go when the list is full
    out = tmp_path / "out.mp4"
    out.write_bytes(d.content)
    with read_video(out) as reader:
        assert sum(1 for _ in reader) == 72


def test_video_job_cancelled_leaves_no_file(client):
    jobs = client.app.state.jobs
    with open(CLIP, "rb") as f:
        r = client.post("/api/videos", files={"video": ("man.mp4", f, "video/mp4")},
                        data={"controls": '{"emotion": "happy", "intensity": 0.5}'})
    jid = r.json()["job"]
    job = jobs.get(jid)
    wait_for(client, jid, lambda s: s["status"] == "running" and s["done"] >= 2)
    assert client.post(f"/api/jobs/{jid}/cancel").status_code == 200
    status = wait_for(client, jid, lambda s: s["status"] != "running")
    assert status["status"] == "cancelled" and status["done"] < 72
    assert not job.folder.exists()  # neither the output nor the upload is left
    assert_error(client.get(f"/api/jobs/{jid}/download"), 409, "job")


def test_video_bad_requests(client):
    with open(CLIP, "rb") as f:
        r = client.post("/api/videos", files={"video": ("m.mp4", f, "video/mp4")}, data={"keyframes": "4s:grin"})
    assert_error(r, 422, "keyframes")
    with open(CLIP, "rb") as f:
        r = client.post("/api/videos", files={"video": ("m.mp4", f, "video/mp4")},
                        data={"keyframes": "0s:happy", "controls": '{"smile": 0.3}'})
    assert_error(r, 422, "keyframes")
    with open(CLIP, "rb") as f:
        r = client.post("/api/videos", files={"video": ("m.mp4", f, "video/mp4")}, data={"controls": '{"smile": 3}'})
    assert_error(r, 422, "smile")
    # A keyframe "file" name is text, never a path on the server.
    with open(CLIP, "rb") as f:
        r = client.post("/api/videos", files={"video": ("m.mp4", f, "video/mp4")}, data={"keyframes": "/etc/passwd"})
    assert_error(r, 422, "keyframes")


def test_video_frame_preview(client):
    with open(CLIP, "rb") as f:
        data = f.read()
    plain = client.post("/api/videos/frame", files={"video": ("m.mp4", data, "video/mp4")}, data={"time": "0.5"})
    edited = client.post("/api/videos/frame", files={"video": ("m.mp4", data, "video/mp4")},
                         data={"time": "0.5", "controls": '{"smile": 0.8}'})
    assert plain.status_code == edited.status_code == 200, edited.text
    assert abs(float(edited.headers["x-time"]) - 0.5) < 0.02
    a, b = decode(plain.content).astype(int), decode(edited.content).astype(int)
    assert a.shape == (360, 640, 3) and np.abs(a - b).max() > 30
    r = client.post("/api/videos/frame", files={"video": ("m.mp4", data, "video/mp4")}, data={"time": "60"})
    assert_error(r, 422, "time")


def test_session_store_keeps_sessions_in_use_up_to_a_cap():
    now = [0.0]
    store = SessionStore(max_sessions=2, grace=5, hard_cap=4, clock=lambda: now[0])
    a, b, c = (store.add(s, None, s) for s in "abc")  # all in use: kept beyond 2
    assert len(store) == 3
    now[0] = 3
    store.get(a.id)
    now[0] = 6  # b and c idle for 6 s, a for 3 s
    d = store.add("d", None, "d")
    assert len(store) == 2 and store.get(a.id) and store.get(d.id)
    e, f, g = (store.add(s, None, s) for s in "efg")  # in use, but never more than the cap
    assert len(store) == 4
    with pytest.raises(ApiError):
        store.get(a.id)


def test_session_store_keeps_a_memory_budget():
    class Fake:
        def __init__(self, n: int) -> None:
            self.pixels = np.zeros(n, np.uint8)

    store = SessionStore(max_sessions=10, max_bytes=250)
    a, b, c = (store.add(Fake(100), None, s) for s in "abc")
    with pytest.raises(ApiError):
        store.get(a.id)
    assert store.get(b.id) and store.get(c.id)
    big = store.add(Fake(1000), None, "big")  # over the budget alone: kept, the rest dropped
    assert len(store) == 1 and store.get(big.id)


def test_video_without_a_face_fails_with_a_message(client):
    jobs = client.app.state.jobs
    with open(DATA / "video" / "no_face.mp4", "rb") as f:
        r = client.post("/api/videos", files={"video": ("empty.mp4", f, "video/mp4")},
                        data={"controls": '{"smile": 0.5}'})
    assert r.status_code == 202, r.text
    jid = r.json()["job"]
    status = wait_for(client, jid, lambda s: s["status"] in ("done", "failed", "cancelled"))
    assert status["status"] == "failed" and "face" in status["message"] and "/" not in status["message"]
    assert not jobs.get(jid).folder.exists()
    assert_error(client.get(f"/api/jobs/{jid}/download"), 409, "job")
