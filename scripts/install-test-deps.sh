#!/usr/bin/env bash
# What the tests need beyond pip: Debian's chromium for the real-browser test of the search page
# (Playwright drives it; its own browser download does not work offline).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
chromium --version
