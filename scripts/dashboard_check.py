#!/usr/bin/env python3
"""The NHEM dashboard (GET /) in headless Chromium, driven over the DevTools protocol.

    dashboard_check.py CHROMIUM HTTP_URL PASSWORD PNG

Opens HTTP_URL#password=…, then checks what a person would see: the connection goes live, the
chart advances (frames arrive and the frame number grows), a peak marker appears, the fps
reads about the server's rate, the clients count shows, and the Pause button changes the
detection state shown (then Resume brings it back). Saves a screenshot to PNG.
Needs `websockets` (.tools/venv). Exit code: 0 all good, 1 a check failed.
"""
import asyncio, base64, json, socket, subprocess, sys, tempfile, time, urllib.request

import websockets

chromium, url, password, png = sys.argv[1:5]


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


async def main():
    port = free_port()
    profile = tempfile.mkdtemp()
    browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                                f"--remote-debugging-port={port}", "--window-size=1000,900", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failures = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    try:
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=1))
                page = next(t for t in targets if t.get("type") == "page")
                break
            except Exception:
                time.sleep(0.1)
        else:
            print("FAIL  Chromium's DevTools endpoint did not come up"); return 1
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as cdp:
            ids = iter(range(1, 1_000_000))

            async def call(method, **params):
                n = next(ids)
                await cdp.send(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    reply = json.loads(await cdp.recv())
                    if reply.get("id") == n:
                        return reply.get("result", {})

            async def js(expression):
                result = await call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
                return result.get("result", {}).get("value")

            async def until(expression, seconds):
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    value = await js(expression)
                    if value:
                        return value
                    await asyncio.sleep(0.2)
                return None

            await call("Page.navigate", url=f"{url}#password={password}")
            live = await until("window.dashboard && window.dashboard.connection === 'live'", 10)
            check(bool(live), "the page authenticates on the WebSocket (badge: live)")
            first = await until("window.dashboard.frames > 10 && window.dashboard.lastFrame", 5)
            await asyncio.sleep(1.0)
            later = await js("window.dashboard.lastFrame")
            frames = await js("window.dashboard.frames")
            check(bool(first) and later and later > first + 30, f"the chart advances (frame {first} → {later}, {frames} frames drawn)")
            peaks = await until("window.dashboard.peaks > 0 && window.dashboard.peaks", 20)
            check(bool(peaks), f"a peak marker appears ({peaks} peaks)")
            fps = float(await js("document.getElementById('fps').textContent") or 0)
            check(30 <= fps <= 90, f"fps shown: {fps}")
            clients = await until("parseInt(document.getElementById('clients').textContent) >= 1 && document.getElementById('clients').textContent", 5)
            check(clients is not None and int(clients) >= 1, f"clients connected shown: {clients}")
            await js("document.getElementById('pause_detection').click()")
            paused = await until("document.getElementById('state').textContent === 'paused'", 5)
            result = await js("document.getElementById('control-result').textContent")
            check(bool(paused), f"Pause changes the state shown ({result!r})")
            await js("document.getElementById('resume_detection').click()")
            resumed = await until("document.getElementById('state').textContent === 'running'", 5)
            check(bool(resumed), "Resume brings it back to running")
            shot = await call("Page.captureScreenshot", format="png")
            with open(png, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
    finally:
        browser.terminate()
        try:
            browser.wait(5)
        except subprocess.TimeoutExpired:
            browser.kill()
    return 1 if failures else 0


sys.exit(asyncio.run(main()))
