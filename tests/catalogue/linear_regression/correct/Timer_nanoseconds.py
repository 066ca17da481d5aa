# question: Timer
# why: counts integer nanoseconds with time.perf_counter_ns and converts to seconds
class Timer:
    """Record multiple running times."""

    def __init__(self):
        """Create an empty list of times and start the timer."""
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self._start_ns = time.perf_counter_ns()

    def stop(self):
        """Stop the timer, record the elapsed seconds in `times` and return them."""
        self.times.append((time.perf_counter_ns() - self._start_ns) / 1e9)
        return self.times[-1]

    def avg(self):
        """Return the average recorded time."""
        return sum(self.times) / len(self.times)

    def sum(self):
        """Return the sum of the recorded times."""
        return sum(self.times)

    def cumsum(self):
        """Return the accumulated times as a list."""
        return np.cumsum(self.times).tolist()
