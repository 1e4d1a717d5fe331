"""Words for numbers, the same in every script, benchmark and report."""


def counted(number, noun):
    """'1 seed', '10,000 seeds', '2 epochs'."""
    return f"{number:,} {noun}{'s' * (number != 1)}"
