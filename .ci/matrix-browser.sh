#!/usr/bin/env bash
# Opens a page written by `oci-conformance matrix` in headless Chromium (Debian's package) and checks
# what a reader would see: the inline script ran to the end without an error, the page has one
# column per registry named on the command line, and the level/workflow filter really hides rows.
#   .ci/matrix-browser.sh PAGE.html LABEL... [--screenshot FILE.png]
# Chromium runs offline on a file:// URL with a fresh profile, no sandbox (CI runs as root), no GPU,
# and every background fetch off.
set -euo pipefail
page=$(realpath "${1:?usage: matrix-browser.sh PAGE.html LABEL... [--screenshot FILE.png]}")
shift
labels=() shot=
while (($#)); do
  case $1 in
    --screenshot) shot=$(realpath -m "$2"); shift 2 ;;
    *) labels+=("$1"); shift ;;
  esac
done
((${#labels[@]})) || { echo "matrix-browser.sh: name at least one registry column" >&2; exit 2; }
if ! command -v chromium >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "matrix-browser: FAIL: $*" >&2; exit 1; }
# One fresh profile per launch; a bounded wait so a wedged browser fails the step instead of hanging.
browse() {
  local profile
  profile=$(mktemp -d -p "$work")
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$profile" --enable-logging=stderr --v=0 \
    --virtual-time-budget=5000 "$@"
}

browse --dump-dom "file://$page" >"$work/dom.html" 2>"$work/console.log" || fail "chromium could not load $page"
if grep -q 'data-script-error=' "$work/dom.html"; then
  fail "script error: $(grep -o 'data-script-error="[^"]*"' "$work/dom.html")"
fi
if grep -E 'CONSOLE.*(Uncaught|Error)' "$work/console.log"; then fail "errors on the console"; fi
ready=$(grep -o 'data-matrix-ready="[0-9]*"' "$work/dom.html" | grep -o '[0-9]*' || true)
[[ $ready == "${#labels[@]}" ]] || fail "the script did not finish with ${#labels[@]} registry columns (data-matrix-ready=${ready:-absent})"
for l in "${labels[@]}"; do
  grep -qF ">$l<br>" "$work/dom.html" || fail "no column for registry $l"
done
echo "matrix-browser: ok: the script ran without errors and the page shows ${#labels[@]} registry columns: ${labels[*]}"

# The filter, driven through the URL: only MAY rows of the push workflow stay visible.
browse --dump-dom "file://$page#level=MAY&workflow=push" >"$work/filtered.html" 2>/dev/null || fail "chromium could not load the filtered page"
python3 - "$work/filtered.html" <<'PY' || fail "the level/workflow filter does not hide what it should"
import re, sys
dom = open(sys.argv[1]).read()
rows = re.findall(r'<tr class="(?:req|case)"([^>]*)>', dom)
shown = [r for r in rows if " hidden" not in r]
assert rows and shown and len(shown) < len(rows), (len(rows), len(shown))
for r in shown:
    assert 'data-level="MAY"' in r and 'data-workflow="push"' in r, r
print(f"matrix-browser: ok: filter level=MAY workflow=push shows {len(shown)} of {len(rows)} rows")
PY

if [[ -n $shot ]]; then
  browse --screenshot="$shot" --window-size=1400,1600 --hide-scrollbars "file://$page" >/dev/null 2>&1 \
    || fail "chromium could not take a screenshot"
  [[ -s $shot ]] || fail "empty screenshot"
  echo "matrix-browser: screenshot in $shot"
fi
