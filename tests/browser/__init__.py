"""The web UI in a real browser: Chromium driven by Selenium against a real `catalog serve`."""
