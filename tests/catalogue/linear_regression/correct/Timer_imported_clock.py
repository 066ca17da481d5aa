# question: Timer
# why: imports the clock by name (from time import monotonic) and reads it twice on creation
from time import monotonic


class Timer:
    """Record multiple running times."""

    def __init__(self):
        """Create an empty list of times and start the timer."""
        self.times = []
        self.created = monotonic()
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = monotonic()

    def stop(self):
        """Stop the timer, record the elapsed seconds in `times` and return them."""
        self.times.append(monotonic() - self.tik)
        return self.times[-1]

    def avg(self):
        """Return the average recorded time."""
        return float(np.mean(self.times))

    def sum(self):
        """Return the sum of the recorded times."""
        return float(np.sum(self.times))

    def cumsum(self):
        """Return the accumulated times as a list."""
        total, out = 0.0, []
        for t in self.times:
            total += t
            out.append(total)
        return out
