"""Words for numbers, the same in every script, benchmark and report."""


def counted(number, noun, plural=None):
    """'1 seed', '10,000 seeds', '2 epochs'; `plural` where it is not noun + 's' ('studies')."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def clipped_limits(args, train_count, test_count):
    """'; --train-limit 10,000,000 is more than there are: all 60,000 used' for each limit
    larger than the images it had ('' if none was)."""
    notes = []
    for flag, limit, count in (
        ("--train-limit", getattr(args, "train_limit", None), train_count),
        ("--test-limit", getattr(args, "test_limit", None), test_count),
    ):
        if limit is not None and limit > count:
            notes.append(f"; {flag} {limit:,} is more than there are: all {count:,} used")
    return "".join(notes)
