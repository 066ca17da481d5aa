"""d2lgrade: autograded exercises for the Linear Neural Networks chapter of d2l.

Kept light on purpose: the student's process imports ``d2lgrade.child``, so
this package's import must not pull in pytest or the grading machinery.
"""

import sys

__version__ = "0.1.0"

# nbformat imports jsonschema, which imports rfc3987_syntax where it is installed (Jupyter's
# jupyter-events asks for it) only to check the "iri" string format, which no notebook schema uses.
# Building its grammar costs a second of CPU in every process that reads a notebook: the grading
# command, each worker, each test. A None entry makes that optional import fail at once, and
# jsonschema goes without the "iri" check. Where jsonschema is already loaded, nothing changes.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)
