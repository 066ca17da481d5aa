"""d2lgrade: autograded exercises for the Linear Neural Networks chapter of d2l.

Kept light on purpose: the student's process imports ``d2lgrade.child``, so
this package's import must not pull in pytest or the grading machinery.
"""

__version__ = "0.1.0"
