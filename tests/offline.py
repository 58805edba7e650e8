"""Find what an HTML page would fetch from the network: scripts, styles, fonts, images, frames, CSS url()/@import."""

from __future__ import annotations

import re
from html.parser import HTMLParser

REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", re.IGNORECASE)
FETCHING = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"), "source": ("src", "srcset"),
            "iframe": ("src",), "embed": ("src",), "object": ("data",), "video": ("src", "poster"),
            "audio": ("src",), "input": ("src",), "use": ("href", "xlink:href"), "image": ("href", "xlink:href")}


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for attr in FETCHING.get(tag, ()):
            for url in values.get(attr, "").split(","):
                if REMOTE.match(url):
                    self.found.append(f"<{tag} {attr}={url.strip()}>")
        self.found += [f"style url {u}" for u in CSS_URL.findall(values.get("style", "")) if REMOTE.match(u)]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False if tag == "style" else self._in_style

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += [f"css url {u}" for u in CSS_URL.findall(data) if REMOTE.match(u)]


def network_fetches(html: str) -> list[str]:
    """Every URL this page would load from another host (links a person may click are not fetches)."""
    parser = _Fetches()
    parser.feed(html)
    return parser.found
