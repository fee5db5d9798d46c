"""Load test of the web app on localhost: many concurrent clients, each with its own photo.

Starts ``mien serve`` (uvicorn) on a free 127.0.0.1 port in a subprocess, then runs
``--clients`` threads at once (one ``httpx.Client`` each). Every client uploads its own
London photo (``../shared/data/london/NNN/neutral.jpg``, a different person per client),
asks for ``--previews`` previews of the smile slider (values differ per client:
``(i + k * clients) / (clients * previews)`` spread over 0..1, each with an increasing
``seq``), then renders once at full resolution (smile at the client's own value and a
blink), and deletes its session. A side thread asks ``/api/health`` every 0.25 s.

Printed: errors (any answer but 201/200/204, or an exception; 409 stale counts apart),
latency p50/p95/max of upload, preview and render (client wall time), health-check
latency while loaded, the server's peak RSS (VmHWM) and CPU time, wall time.

Cross-talk check (every client got its own result): afterwards this process computes,
with the library and no server, each client's last preview (Session.preview, encoded as
the server does) and its render (Session.render written like the photo) from the same
photo and controls, and compares bytes with what the client received. It also checks
that the crop the server reported lies around the client's own face.

Bounded: at most ``--clients`` x (``--previews`` + 3) requests, each with a 180 s
timeout, and the whole run stops at ``--deadline`` seconds.

    .venv/bin/python benchmarks/web_load.py [--clients 50] [--previews 20] [--max-sessions 32]

The machine has 2 shared cores: compare runs made at the same time only.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
LONDON = ROOT.parent / "shared" / "data" / "london"


@dataclass
class Client:
    index: int
    photo: Path
    values: list[float]
    sid: str | None = None
    box: list[float] | None = None
    upload_s: float | None = None
    preview_s: list[float] = field(default_factory=list)
    render_s: float | None = None
    last_preview: bytes | None = None
    last_crop: str | None = None
    render: bytes | None = None
    render_controls: dict | None = None
    errors: list[str] = field(default_factory=list)
    stale: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_client(c: Client, base: str, deadline: float) -> None:
    with httpx.Client(base_url=base, timeout=180.0) as http:
        try:
            t0 = time.perf_counter()
            with open(c.photo, "rb") as f:
                r = http.post("/api/sessions", files={"photo": (f"{c.index:03d}.jpg", f, "image/jpeg")})
            c.upload_s = time.perf_counter() - t0
            if r.status_code != 201:
                c.errors.append(f"upload {r.status_code} {r.text[:200]}")
                return
            body = r.json()
            c.sid, c.box = body["id"], body["faces"][0]["box"]
            for seq, value in enumerate(c.values):
                if time.monotonic() > deadline:
                    c.errors.append("deadline")
                    return
                t0 = time.perf_counter()
                r = http.post(f"/api/sessions/{c.sid}/preview",
                              json={"face": 0, "controls": {"smile": value}, "seq": seq})
                if r.status_code == 409:
                    c.stale += 1
                    continue
                c.preview_s.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    c.errors.append(f"preview {r.status_code} {r.text[:200]}")
                    continue
                c.last_preview, c.last_crop = r.content, r.headers["x-crop"]
            c.render_controls = {"smile": c.values[-1], "blink": 0.3}
            t0 = time.perf_counter()
            r = http.post(f"/api/sessions/{c.sid}/render", json={"face": 0, "controls": c.render_controls})
            c.render_s = time.perf_counter() - t0
            if r.status_code != 200:
                c.errors.append(f"render {r.status_code} {r.text[:200]}")
            else:
                c.render = r.content
        except Exception as exc:  # counted, not raised: the run goes on
            c.errors.append(f"{type(exc).__name__}: {exc}")


def verify(clients: list[Client]) -> tuple[int, int]:
    """Recompute each client's last preview and render with the library; count mismatches."""
    from mien.controls import Request
    from mien.io import read_photo, write_photo
    from mien.session import Session
    from mien.web.app import PREVIEW_PX, jpeg

    wrong_preview = wrong_render = 0
    with tempfile.TemporaryDirectory() as tmp:
        for c in clients:
            if c.last_preview is None or c.render is None:
                continue
            photo = read_photo(c.photo)
            session = Session(photo)
            expect = jpeg(session.preview(Request.from_controls(smile=c.values[-1]), 0, work_px=PREVIEW_PX))
            x0, y0, x1, y1 = map(int, c.last_crop.split(","))
            bx0, by0, bx1, by1 = c.box
            inside = x0 <= bx0 and y0 <= by0 and x1 >= bx1 and y1 >= by1
            if expect != c.last_preview or not inside:
                wrong_preview += 1
                print(f"client {c.index}: preview differs from its own photo's ({c.photo})", file=sys.stderr)
            out = write_photo(Path(tmp) / f"{c.index}.jpg",
                              session.render(Request.from_controls(**c.render_controls), 0), like=photo)
            if out.read_bytes() != c.render:
                wrong_render += 1
                print(f"client {c.index}: render differs from its own photo's ({c.photo})", file=sys.stderr)
    return wrong_preview, wrong_render


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--previews", type=int, default=20)
    ap.add_argument("--max-sessions", type=int, default=32, help="as mien serve (its default)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=600.0, help="seconds for the whole load phase")
    ap.add_argument("--no-verify", action="store_true")
    args = ap.parse_args()

    people = sorted(p for p in LONDON.iterdir() if (p / "neutral.jpg").exists())
    if len(people) < args.clients:
        print(f"note: {len(people)} London people for {args.clients} clients; photos repeat (values differ)")
    n, k = args.clients, args.previews
    clients = [Client(i, people[i % len(people)] / "neutral.jpg",
                      [round((i + j * n) / (n * k - 1), 4) for j in range(k)]) for i in range(n)]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "mien", "serve", "--port", str(port),
                               "--max-sessions", str(args.max_sessions), "--workers", str(args.workers)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        start = time.monotonic()
        while True:
            try:
                r = httpx.get(f"{base}/api/health", timeout=1)
                if r.status_code == 200 and r.json().get("warm", True):  # models loaded at start-up
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() - start > 60:
                raise SystemExit(f"server did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.2)
        cpu0 = proc_cpu(server.pid)
        rss0 = int(proc_status(server.pid)["VmRSS"].split()[0]) / 1024

        health: list[float] = []
        health_at: list[float] = []
        started = [time.perf_counter()]
        health_errors = [0]
        stop = threading.Event()

        def poll_health():
            with httpx.Client(base_url=base, timeout=30) as http:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    try:
                        ok = http.get("/api/health").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    health.append(time.perf_counter() - t0)
                    health_at.append(t0 - started[0])
                    health_errors[0] += not ok
                    stop.wait(0.25)

        watcher = threading.Thread(target=poll_health, daemon=True)
        watcher.start()
        t0 = started[0] = time.perf_counter()
        deadline = time.monotonic() + args.deadline
        threads = [threading.Thread(target=run_client, args=(c, base, deadline), daemon=True) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()) + 5)
        wall = time.perf_counter() - t0
        stop.set()
        watcher.join(5)
        status = proc_status(server.pid)
        peak = int(status["VmHWM"].split()[0]) / 1024
        cpu = proc_cpu(server.pid) - cpu0
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()

    errors = [e for c in clients for e in c.errors]
    unfinished = sum(1 for t in threads if t.is_alive())
    previews = [s for c in clients for s in c.preview_s]
    renders = [c.render_s for c in clients if c.render_s is not None]
    uploads = [c.upload_s for c in clients if c.upload_s is not None]
    ms = lambda xs: f"p50 {percentile(xs, 50) * 1000:.0f} ms, p95 {percentile(xs, 95) * 1000:.0f} ms, " \
                    f"max {max(xs) * 1000:.0f} ms (n={len(xs)})" if xs else "none"
    print(f"clients {n}, previews each {k}, server --max-sessions {args.max_sessions} --workers {args.workers}")
    print(f"wall {wall:.1f} s; server CPU {cpu:.1f} s ({cpu / wall:.2f} cores busy on average)")
    print(f"errors {len(errors)} (clients unfinished {unfinished}); stale previews skipped (409) "
          f"{sum(c.stale for c in clients)}")
    for e in errors[:10]:
        print("  ", e)
    print(f"upload  {ms(uploads)}")
    print(f"preview {ms(previews)}")
    print(f"render  {ms(renders)}")
    print(f"health while loaded {ms(health)}; failed {health_errors[0]}"
          + (f"; slowest at {health_at[health.index(max(health))]:.1f} s into the run" if health else ""))
    print(f"server RSS: {rss0:.0f} MB idle after start, peak {peak:.0f} MB")
    if not args.no_verify:
        t1 = time.perf_counter()
        wrong_p, wrong_r = verify(clients)
        checked = sum(1 for c in clients if c.last_preview is not None and c.render is not None)
        print(f"own results: {checked} clients checked against the library, previews wrong {wrong_p}, "
              f"renders wrong {wrong_r} ({time.perf_counter() - t1:.0f} s)")
        if wrong_p or wrong_r:
            sys.exit(1)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
