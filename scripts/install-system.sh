#!/usr/bin/env bash
# Debian packages the demo and the tests use. Installs only what is missing, and only when run as root with apt;
# otherwise prints what to install. Never downloads anything but Debian packages.
#   ffmpeg            ffprobe reads recordings back in tests
#   nginx-light + libnginx-mod-rtmp   the RTMP server the integration tests publish to (loopback only)
#   fonts-dejavu-core, fonts-wqy-microhei   Latin and CJK fonts for the on-screen label and product card
#   chromium          the browser tests drive (Playwright, with this executable; Playwright's own download is not used)
#   libgl1, libglib2.0-0   what the OpenCV wheel mediapipe needs (opencv-contrib-python) links against
set -euo pipefail
pkgs=(ffmpeg nginx-light libnginx-mod-rtmp fonts-dejavu-core fonts-wqy-microhei chromium libgl1 libglib2.0-0)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package starts nginx on port 80; the project runs its own instances, so stop the system one.
  if command -v nginx >/dev/null && [ -f /run/nginx.pid ]; then nginx -s quit 2>/dev/null || true; fi
else
  echo "note: these Debian packages are missing: ${missing[*]}" >&2
  echo "      install them with: sudo apt-get install ${missing[*]}" >&2
fi
