"""make audit: pip-audit of the pinned requirements, saying plainly when nothing could be audited.

pip-audit resolves requirements.txt (with its transitive dependencies) and asks PyPI's vulnerability
data about each package. Where that data cannot be reached (a machine that sees only a package mirror,
whose JSON API answers "not found"), pip-audit skips every package and still exits 0: this script says
so in one line instead of passing silently. It fails on a known vulnerability (naming the fixed
versions), and on skipped packages too when AUDIT_STRICT=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = os.environ.get("AUDIT_REQUIREMENTS", "requirements.txt")


def main() -> int:
    pip_audit = Path(sys.executable).parent / "pip-audit"
    done = subprocess.run(  # noqa: S603
        [str(pip_audit), "-r", REQUIREMENTS, "--format", "json", "--progress-spinner", "off"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit: could not run (exit {done.returncode}):\n{done.stderr[-3000:]}")
        return 1
    dependencies = report.get("dependencies", [])
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    skipped = [dep for dep in dependencies if dep.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(f"pip-audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})")
    if skipped and audited == 0:
        print(f"pip-audit: NOT AUDITED: the vulnerability data could not be reached from this machine; all "
              f"{len(skipped)} packages of {REQUIREMENTS} were skipped (e.g. {skipped[0]['name']}: "
              f"{skipped[0]['skip_reason']})")  # fmt: skip
    elif skipped:
        names = ", ".join(dep["name"] for dep in skipped)
        print(f"pip-audit: {audited} packages audited; {len(skipped)} could not be: {names}")
    if not vulnerable and audited:
        print(f"pip-audit: {audited} packages of {REQUIREMENTS} audited, no known vulnerabilities")
    strict = os.environ.get("AUDIT_STRICT") == "1"
    return 1 if vulnerable or (strict and skipped) else 0


if __name__ == "__main__":
    sys.exit(main())
