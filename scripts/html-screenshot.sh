#!/usr/bin/env bash
# Render the HTML report (the English and Korean snapshots of the export tests,
# findings/src/export/tests/snapshots/) in headless Chromium, take a screenshot
# of each and check it is not blank (more than one colour, and more than a few).
# Needs chromium (or chromium-browser, google-chrome) and python3; .ci/run
# calls it only when Chromium is installed. Screenshots go to $OUT_DIR
# (default: a temporary directory), so they can be looked at.
set -euo pipefail
cd "$(dirname "$0")/.."

browser=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [[ -z "$browser" ]]; then
    echo "html-screenshot: no chromium installed; skipped" >&2
    exit 0
fi
out_dir="${OUT_DIR:-$(mktemp -d)}"
mkdir -p "$out_dir"
snapshots=findings/src/export/tests/snapshots

for name in report.html report.ko.html; do
    snap="$snapshots/haetae_findings__export__tests__snapshots__$name.snap"
    html="$out_dir/$name"
    png="$out_dir/$name.png"
    # An insta snapshot is a header between two `---` lines, then the text.
    awk 'n >= 2 { print; next } /^---$/ { n++ }' "$snap" > "$html"
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --window-size=1200,1800 --screenshot="$png" "file://$(realpath "$html")" >/dev/null 2>&1
    python3 - "$png" <<'PY'
import struct, sys, zlib

path = sys.argv[1]
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
pos, idat, width, height, bpp = 8, b"", 0, 0, 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), f"{path}: unexpected PNG type {ctype}/{depth}"
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
stride = width * bpp
prev = bytearray(stride)
colours = set()
for y in range(height):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp * 2))
    prev = line
print(f"{path}: {width}x{height}, {len(colours)} colours")
assert len(colours) > 8, f"{path}: blank screenshot ({len(colours)} colours)"
PY
done
echo "html-screenshot: ok ($out_dir)"
