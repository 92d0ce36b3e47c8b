#!/usr/bin/env bash
# The stream tests' real RTSP server (tests/rtsp_server.py): GStreamer's RTSP server and its H.264 encoder, for
# Debian's python3, and ffmpeg. Installs only what is missing (apt-get, as root); a no-op once installed.
set -euo pipefail
packages=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good
          gstreamer1.0-plugins-ugly ffmpeg)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-stream-tools: need root to apt-get install ${missing[*]} (the RTSP tests skip without them)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "install-stream-tools: installed ${missing[*]}"
