"""The course's grader: the checks that graded test cells call, and the instructor's tools.

In a lab's test cell:

    from grader import checks, reference
    checks.check_function("dy/dx", student_fn, reference.derivative(lambda x: x**2), [2.0])
"""
