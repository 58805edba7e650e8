"""Headless Chromium over the DevTools protocol (for report tests): load a page, record every network request,
console message and exception, read the DOM, and take screenshots. Also a tiny PNG decoder (no Pillow)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--remote-debugging-port=0"]


def chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageResult:
    requests: list[str] = field(default_factory=list)
    console: list[dict] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    screenshot: bytes = b""
    small_screenshot: bytes = b""


async def _drive(ws_url: str, url: str, js: str, width: int, height: int) -> PageResult:
    import websockets

    out = PageResult()
    async with websockets.connect(ws_url, max_size=None) as ws:
        counter = 0
        pending: dict[int, asyncio.Future] = {}
        loaded = asyncio.Event()

        async def reader():
            async for raw in ws:
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in pending:
                    pending.pop(msg["id"]).set_result(msg)
                    continue
                method, params = msg.get("method"), msg.get("params", {})
                if method == "Network.requestWillBeSent":
                    out.requests.append(params["request"]["url"])
                elif method == "Runtime.consoleAPICalled":
                    out.console.append({"type": params.get("type"), "args": params.get("args")})
                elif method == "Runtime.exceptionThrown":
                    out.exceptions.append(json.dumps(params.get("exceptionDetails")))
                elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                    out.log_errors.append(params["entry"].get("text", ""))
                elif method == "Page.loadEventFired":
                    loaded.set()

        task = asyncio.create_task(reader())

        async def send(method: str, session: str | None = None, **params):
            nonlocal counter
            counter += 1
            fut = asyncio.get_running_loop().create_future()
            pending[counter] = fut
            msg = {"id": counter, "method": method, "params": params}
            if session:
                msg["sessionId"] = session
            await ws.send(json.dumps(msg))
            res = await asyncio.wait_for(fut, 60)
            if "error" in res:
                raise RuntimeError(f"{method}: {res['error']}")
            return res.get("result", {})

        target = (await send("Target.createTarget", url="about:blank"))["targetId"]
        sid = (await send("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            await send(f"{domain}.enable", sid)
        await send("Emulation.setDeviceMetricsOverride", sid, width=width, height=height, deviceScaleFactor=1,
                   mobile=False)
        await send("Page.navigate", sid, url=url)
        await asyncio.wait_for(loaded.wait(), 60)
        res = await send("Runtime.evaluate", sid, expression=js, returnByValue=True)
        out.values = res.get("result", {}).get("value") or {}
        shot = await send("Page.captureScreenshot", sid, format="png")
        out.screenshot = base64.b64decode(shot["data"])
        small = await send("Page.captureScreenshot", sid, format="png",
                           clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 0.25})
        out.small_screenshot = base64.b64decode(small["data"])
        await asyncio.sleep(0.3)  # let late events arrive
        task.cancel()
    return out


def _end_group(proc: subprocess.Popen) -> None:
    """Stop a browser started in a session of its own, then every helper process it started."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # helpers that outlived the browser


def load_page(path: Path, js: str, width: int = 1280, height: int = 4000) -> PageResult:
    """Open ``path`` in headless Chromium and evaluate ``js`` (must return a JSON-able value)."""
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed")
    # Chromium's helper processes can still be writing the profile as it is removed: they run in the browser's own
    # process group, which is ended as a whole, and a file written after that does not fail the test
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            ws_url = None
            for line in proc.stderr:
                m = re.search(r"DevTools listening on (ws://\S+)", line)
                if m:
                    ws_url = m.group(1)
                    break
            if ws_url is None:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            return asyncio.run(_drive(ws_url, path.resolve().as_uri(), js, width, height))
        finally:
            _end_group(proc)


def decode_png(data: bytes) -> np.ndarray:
    """8-bit RGB/RGBA non-interlaced PNG -> uint8 array (h, w, channels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.int32)
    bpp = channels
    for y in range(height):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        prev = out[y - 1] if y else np.zeros(width * channels, dtype=np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) % 256
        else:
            cur = np.zeros_like(line)
            for x in range(len(line)):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                if f == 1:
                    pred = a
                elif f == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                cur[x] = (line[x] + pred) % 256
        out[y] = cur
    return out.reshape(height, width, channels).astype(np.uint8)
