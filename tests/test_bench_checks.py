"""bench/checks.py, the timing of the students' instant checks, runs and reports each lab."""

import re
import subprocess
import sys

from grader import course


def test_the_check_benchmark_runs_and_reports_lab_1():
    result = subprocess.run([sys.executable, "bench/checks.py", "--labs", "01_derivatives"],
                            cwd=course.ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    line = re.search(r"^01_derivatives\s+(\d+)\s+(\S+)\s+(\S+)$", result.stdout, re.MULTILINE)
    assert line, f"no line for 01_derivatives in:\n{result.stdout}"
    checks, median, slowest = int(line[1]), float(line[2]), float(line[3])
    assert checks > 0
    assert 0 < median <= slowest < 1000, result.stdout
    assert re.search(r"^all\s+", result.stdout, re.MULTILINE), result.stdout
