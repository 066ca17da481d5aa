# question: Timer
# why: cumsum returns the final total instead of the list of running totals
class Timer:
    """Record multiple running times."""

    def __init__(self):
        """Create an empty list of times and start the timer."""
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.time()

    def stop(self):
        """Stop the timer, record the elapsed seconds in `times` and return them."""
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self):
        """Return the average recorded time."""
        return sum(self.times) / len(self.times)

    def sum(self):
        """Return the sum of the recorded times."""
        return sum(self.times)

    def cumsum(self):
        """Return the accumulated times as a list."""
        return np.cumsum(self.times)[-1]
