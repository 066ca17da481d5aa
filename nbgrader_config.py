"""nbgrader's view of this course: sources in solutions/, stubs in assignments/."""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "d2l-linear-networks"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# The course's assignments, in the order of the book (d2l 3.1, 3.2, 3.3).
# nbgrader 0.9 adds an assignment to its gradebook when it is first
# generated; d2lgrade reads this list to know the course.
ASSIGNMENTS = ["linear_regression", "linreg_scratch", "linreg_concise"]

# The stubs' `check("...")` cells are the students' own self-checks; when
# nbgrader autogrades, the test cells grade each question, so skip them.
c.Execute.skip_cells_with_tag = "check"

# After a cell's reply, nbgrader waits for the rest of its output at most nbclient's iopub_timeout
# (4 s) and then fails the cell ("Timeout waiting for IOPub output"): on a busy machine that failed
# a correct notebook in the benchmark's quick run. The wait ends as soon as the output is in.
c.Execute.iopub_timeout = 60
