"""The real Chromium every review-page test drives (one per test module)."""

from __future__ import annotations

import pytest
from test_review_page import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: run the README setup line (apt-get install -y chromium ...); "
                    "never `playwright install`", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
