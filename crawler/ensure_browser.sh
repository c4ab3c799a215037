#!/usr/bin/env bash
# Make sure a Chromium/Chrome and a matching chromedriver exist. As root on Debian/Ubuntu it
# installs Debian's `chromium` and `chromium-driver`; otherwise it says what to install.
set -u
have_browser() { command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
  || command -v google-chrome >/dev/null || [ -n "${HARVEST_BROWSER_BINARY:-}" ]; }
have_driver() { command -v chromedriver >/dev/null || [ -n "${HARVEST_DRIVER:-}" ]; }
if have_browser && have_driver; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium and chromium-driver (no browser or driver found)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null \
    && exit 0
  echo "error: apt-get could not install chromium and chromium-driver" >&2
  exit 1
fi
echo "error: Harvest needs Chromium (or Chrome) and chromedriver. Install them, e.g." >&2
echo "  sudo apt-get install chromium chromium-driver   (Debian/Ubuntu)" >&2
echo "  brew install --cask chromium && brew install chromedriver   (macOS)" >&2
echo "or point HARVEST_BROWSER_BINARY and HARVEST_DRIVER at them." >&2
exit 1
