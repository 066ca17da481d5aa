# question: Timer
# why: the book's timer reading time.perf_counter, with cumsum via itertools.accumulate
class Timer:
    """Record multiple running times."""

    def __init__(self):
        """Create an empty list of times and start the timer."""
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.perf_counter()

    def stop(self):
        """Stop the timer, record the elapsed seconds in `times` and return them."""
        elapsed = time.perf_counter() - self.tik
        self.times.append(elapsed)
        return elapsed

    def avg(self):
        """Return the average recorded time."""
        return self.sum() / len(self.times)

    def sum(self):
        """Return the sum of the recorded times."""
        return sum(self.times)

    def cumsum(self):
        """Return the accumulated times as a list."""
        import itertools
        return list(itertools.accumulate(self.times))
