import sys

from grader.cli import main

if __name__ == "__main__":  # grading workers start by importing this module again
    sys.exit(main())
