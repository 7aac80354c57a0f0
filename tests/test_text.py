"""The labs' text: what every lab must have, every stated result asserted in code, and none of
the known errors of the material the course grew from (../shared/seeds/README.md)."""

import ast
import re

from grader.course import notebooks
from tests.conftest import LABS

BARE_NAME = re.compile(r"^\\?[A-Za-z]\w*('|_\{?\w+\}?)?$")
NUMBER = r"−?-?\d+(?:\.\d+)?"


def cells(lab, kind):
    return [c for c in notebooks.read(lab.solution).cells if c.cell_type == kind]


def stated_results(markdown: str) -> set[float]:
    """Numbers the prose states as results: the value that ends an equation whose left side is
    more than a bare name (`$6 \\cdot 3 = 18$`, but not `$x = 3$`), and numbers in bold."""
    found = set()
    for math in re.findall(r"\$\$(.+?)\$\$|\$(.+?)\$", markdown, flags=re.S):
        equation = (math[0] or math[1]).strip()
        match = re.search(rf"=\s*({NUMBER})\s*[.,]?$", equation)
        if match:
            left = equation[: match.start()].rsplit("=", 1)[-1].strip()
            if not BARE_NAME.match(left):
                found.add(float(match.group(1).replace("−", "-")))
    for bold in re.findall(rf"\*\*({NUMBER})\*\*", markdown):
        found.add(float(bold.replace("−", "-")))
    return found


def asserted_numbers(lab) -> set[float]:
    """Every number literal in a code cell that asserts something."""
    found = set()
    for cell in cells(lab, "code"):
        if "assert" in cell.source:
            found |= {float(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", cell.source)}
            found |= {-n for n in set(found)}
    return found


def test_the_result_finder_finds_results_and_skips_inputs():
    text = "at $x = 3$ the slope is $$6 \\cdot 3 = 18$$ and $f'(2) = 11$, so **233**."
    assert stated_results(text) == {18.0, 11.0, 233.0}


def test_every_result_stated_in_prose_is_asserted_in_code(lab):
    stated = set().union(*(stated_results(c.source) for c in cells(lab, "markdown")))
    missing = sorted(stated - asserted_numbers(lab))
    assert not missing, f"{lab.name} states results that no assert checks: {missing}"


def test_every_lab_opens_with_objectives_and_time_and_closes_with_a_summary(lab):
    markdown = cells(lab, "markdown")
    assert markdown[0].source.startswith("# Lab ")
    assert "Estimated time" in markdown[0].source and "After this lab you can" in markdown[0].source
    assert "What you learned" in markdown[-1].source


def graded(lab):
    return [c for c in cells(lab, "code") if c.metadata.get("nbgrader", {}).get("grade")]


def answers(lab):
    return [c for c in cells(lab, "code") if c.metadata.get("nbgrader", {}).get("solution")]


def test_every_lab_has_three_graded_exercises_each_with_hidden_tests(lab):
    exercises = {c.metadata["nbgrader"]["grade_id"].split("-")[0] for c in graded(lab)}
    assert len(exercises) >= 3, exercises
    for cell in graded(lab):
        assert cell.metadata["nbgrader"]["points"] > 0
        assert "### BEGIN HIDDEN TESTS" in cell.source, cell.id
        assert "from grader import" in cell.source, cell.id


def exercise_headings(lab) -> list[str]:
    return [line for c in cells(lab, "markdown") for line in c.source.splitlines()
            if line.startswith("### Exercise")]


def test_at_most_one_exercise_of_the_course_is_calculus_by_hand():
    """The course teaches autograd: one exercise may ask for a derivative worked out on paper
    (checked against autograd); every other exercise practises what its lab teaches."""
    by_hand = [f"{lab.name}: {h}" for lab in LABS for h in exercise_headings(lab)
               if "by hand" in h.lower()]
    assert len(by_hand) <= 1, by_hand


def test_most_exercises_practise_autograd_itself():
    answers_all = [c for lab in LABS for c in answers(lab)]
    uses_autograd = [c for c in answers_all if "backward(" in c.source or "autograd" in c.source
                     or "torch.func" in c.source or "Function" in c.source]
    assert len(uses_autograd) >= len(answers_all) - 3, [c.id for c in answers_all
                                                         if c not in uses_autograd]


# How long a lab takes: its prose read at 130 words a minute (it is maths), the code a student
# sees at 20 lines a minute (read and run), and 6 minutes for each exercise. For the six labs of
# issue 13 this gave about 300 minutes, what a reviewer measured reading them.
WORDS_A_MINUTE, LINES_A_MINUTE, MINUTES_AN_EXERCISE = 130, 20, 6


def estimated_minutes(lab) -> float:
    nb = notebooks.read(lab.solution)
    words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    lines = sum(len(c.source.splitlines()) for c in nb.cells if c.cell_type == "code"
                and not c.metadata.get("nbgrader", {}).get("grade")
                and "ci-only" not in c.metadata.get("tags", []))
    return (words / WORDS_A_MINUTE + lines / LINES_A_MINUTE
            + MINUTES_AN_EXERCISE * len(exercise_headings(lab)))


def stated_minutes(lab) -> int:
    title = cells(lab, "markdown")[0].source
    return int(re.search(r"\*\*Estimated time:\*\* (\d+) minutes", title).group(1))


def test_every_lab_states_an_honest_time(lab):
    estimate = estimated_minutes(lab)
    assert 0.85 * estimate <= stated_minutes(lab) <= 1.25 * estimate, \
        f"{lab.name}: says {stated_minutes(lab)} minutes, reads in about {estimate:.0f}"


def test_the_readme_gives_each_lab_the_time_the_lab_states():
    readme = (LABS[0].solution.parents[2] / "README.md").read_text(encoding="utf-8")
    for lab in LABS:
        row = next(line for line in readme.splitlines()
                   if line.startswith("| [") and f"notebooks/{lab.name}/" in line)
        assert row.rstrip(" |").endswith(f"| {stated_minutes(lab)} min"), row


def test_some_exercise_gives_partial_credit_for_its_parts():
    parts = {}
    for lab in LABS:
        for cell in graded(lab):
            key = (lab.name, cell.metadata["nbgrader"]["grade_id"].split("-")[0])
            parts[key] = parts.get(key, 0) + 1
    assert max(parts.values()) >= 2


def printed_labels_and_gradients(source):
    """(variable the label names, variable whose .grad is printed) for each print call."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
            text = " ".join(a.value for a in node.args if isinstance(a, ast.Constant)
                            and isinstance(a.value, str))
            named = re.findall(r"(?:with respect to |∂\w*/∂|d\w/d)(\w)\b", text)
            grads = [a.value.id for a in node.args if isinstance(a, ast.Attribute)
                     and a.attr == "grad" and isinstance(a.value, ast.Name)]
            if named and grads:
                yield named, grads


def test_each_printed_derivative_is_labelled_with_its_own_variable(lab):
    """The seed printed "with respect to u" beside v.grad."""
    for cell in cells(lab, "code"):
        for named, grads in printed_labels_and_gradients(cell.source):
            assert named[-1:] == grads[-1:], f"{cell.id}: label says {named}, prints {grads}.grad"


def test_the_label_check_catches_the_seed_error():
    seed = 'print("The partial derivative with respect to u: ", v.grad)'
    assert list(printed_labels_and_gradients(seed)) == [(["u"], ["v"])]


def test_a_custom_backward_uses_its_upstream_gradient(lab):
    """The seed's backward returned 2*i and ignored grad_output."""
    for cell in cells(lab, "code"):
        if "deliberate-bug" in cell.metadata.get("tags", []):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.FunctionDef) and node.name == "backward":
                upstream = node.args.args[1].arg
                used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                assert upstream in used, f"{cell.id}: backward ignores {upstream}"


def test_no_code_is_shown_without_its_output(lab):
    """The seed showed a cell's code twice and its output never."""
    sources = [c.source for c in cells(lab, "code")]
    assert len(sources) == len(set(sources)), "two code cells are identical"
    for cell in cells(lab, "code"):
        tags = cell.metadata.get("tags", [])
        if "print(" in cell.source and "nbval-ignore-output" not in tags:
            assert cell.outputs, f"{cell.id} prints but has no saved output"


def test_nothing_is_written_on_stderr_and_only_tagged_cells_raise(lab):
    for cell in cells(lab, "code"):
        kinds = [o.get("name", o.output_type) for o in cell.outputs]
        assert "stderr" not in kinds, f"{cell.id} writes on stderr"
        raises = "raises-exception" in cell.metadata.get("tags", [])
        assert ("error" in kinds) == raises, f"{cell.id}: error output vs raises-exception tag"


def free_names(source: str) -> set[str]:
    """Names a cell reads without defining, importing or receiving them as parameters."""
    tree = ast.parse(source)
    defined, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return read - defined


def test_grade_cells_take_only_answers_from_the_student(lab):
    """The judge runs grade cells outside the student's kernel: every name a test reads must be
    its own, a builtin, a trusted module, or something an answer cell defines."""
    import builtins

    from grader.grading.judge import TRUSTED_NAMES

    answers_defined = set().union(*(free_names("") | {
        n.name for n in ast.parse(c.source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
    } for c in answers(lab)))
    for cell in graded(lab):
        unknown = free_names(cell.source) - set(dir(builtins)) - set(TRUSTED_NAMES) - \
            answers_defined
        assert not unknown, f"{cell.id} reads {unknown} from the notebook"
