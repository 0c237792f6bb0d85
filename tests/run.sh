#!/bin/sh
# Install what the test suite needs, then run it. This is the README's test command and
# what CI runs (.ci/run). Extra arguments go to pytest, e.g. `sh tests/run.sh -k numbers`.
set -eu
cd "$(dirname "$0")/.."

# The browser tests drive Debian's chromium (never a downloaded browser); the CJK font
# keeps Chinese text readable in screenshots.
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/wqy ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
    else
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
    fi
fi

python3 -m pip install -q -e '.[test]'
exec python3 -m pytest "$@"
