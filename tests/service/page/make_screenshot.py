"""Writes docs/page.png: the page after translating two sentences, a target token in focus.

Not a test (it writes into the repository); run it by hand after changing the page:

    python -m tests.service.page.make_screenshot --models artifacts --out docs/page.png

It serves the bundles under --models with a real uvicorn server, as the tests do, and drives Debian's Chromium.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.service.app.conftest import live_server, server_settings
from tests.service.page.conftest import CHROMIUM, CHROMIUM_ARGS, open_ready, translate_on_page

TEXT = "A man in a red shirt is climbing a rock. Two dogs are playing in the snow."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=Path("artifacts"), help="folder of model bundles")
    parser.add_argument("--out", type=Path, default=Path("docs/page.png"))
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--scale", type=float, default=1.5, help="device pixels per CSS pixel")
    arguments = parser.parse_args()
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as folder,
        live_server(server_settings(arguments.models, Path(folder))) as live,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": arguments.width, "height": 900}, device_scale_factor=arguments.scale)
        open_ready(page, live.url)
        translate_on_page(page, arguments.text, sentences=2)
        page.locator('[data-testid="heatmap"]').first.locator('[data-testid="target-token"]').nth(1).focus()
        page.screenshot(path=str(arguments.out), full_page=True)
        browser.close()
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
