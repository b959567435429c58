#!/usr/bin/env bash
# pip-audit of the installed environment (issue 8).
#
# Exit status: 0 = no known vulnerabilities (or the advisory data could not be reached: see below),
#              1 = at least one known vulnerability, 3 = pip-audit itself is missing or broken.
# Advisory data comes from PyPI's per-version JSON API (pypi.org/pypi/NAME/VERSION/json); if that answers for
# nothing, OSV (api.osv.dev) is tried. When neither can vouch for the packages the result is INCONCLUSIVE:
# printed loudly, exit 0 so that CI does not fail on a network outage; GRIDBOT_AUDIT_STRICT=1 makes it exit 2.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
STRICT=${GRIDBOT_AUDIT_STRICT:-0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! "$PY" -m pip_audit --version >/dev/null 2>&1; then
    echo "audit: pip-audit is not installed in $PY's environment (pip install pip-audit)" >&2
    exit 3
fi

run() {  # run SERVICE: writes $tmp/SERVICE.json and $tmp/SERVICE.err, echoes pip-audit's exit status
    "$PY" -m pip_audit --progress-spinner off --skip-editable --desc on --timeout 20 \
        --vulnerability-service "$1" --format json --output "$tmp/$1.json" 2>"$tmp/$1.err"
    echo $?
}

# Reads a pip-audit JSON report; prints the findings and exits 1 (vulnerable), 0 (clean) or 4 (nothing checked).
summarise() {
    "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
path, service = sys.argv[1], sys.argv[2]
deps = json.load(open(path))["dependencies"]
vulnerable = [d for d in deps if d.get("vulns")]
skipped = [d for d in deps if "skip_reason" in d]
checked = len(deps) - len(skipped)
print(f"audit ({service}): {len(deps)} packages, {checked} checked, {len(skipped)} skipped, "
      f"{len(vulnerable)} vulnerable")
for d in vulnerable:
    for v in d["vulns"]:
        fix = ", ".join(v.get("fix_versions") or []) or "no fix released"
        print(f"  {d['name']} {d['version']}: {v['id']} (fixed in: {fix}) {' '.join(v.get('aliases') or [])}")
        if v.get("description"):
            print("    " + v["description"].strip().splitlines()[0][:200])
if vulnerable:
    sys.exit(1)
if checked == 0:
    print(f"  every package was skipped, e.g. {skipped[0]['name']}: {skipped[0]['skip_reason']}" if skipped else "")
    sys.exit(4)
for d in skipped:
    print(f"  skipped {d['name']} {d['version']}: {d['skip_reason']}")
PYEOF
}

for service in pypi osv; do
    rc=$(run "$service")
    if [ -s "$tmp/$service.json" ]; then
        summarise "$tmp/$service.json" "$service"
        verdict=$?
        case $verdict in
            0) echo "audit: OK, no known vulnerabilities"; exit 0 ;;
            1) echo "audit: FAILED, known vulnerabilities above"; exit 1 ;;
        esac
    else
        echo "audit ($service): pip-audit exited $rc without a report: $(tail -n 1 "$tmp/$service.err")"
    fi
done

echo "audit: INCONCLUSIVE, no advisory service could vouch for the installed packages (network or mirror)."
if [ "$STRICT" = "1" ]; then exit 2; fi
exit 0
