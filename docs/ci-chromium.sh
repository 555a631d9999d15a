# Lines for .ci/run: the demo's browser test needs Chromium (Debian package `chromium`).
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
	$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
fi
make browser-test
