"""Words for numbers, the same in every script, benchmark and report."""


def counted(number, noun, plural=None):
    """'1 seed', '10,000 seeds', '2 epochs'; `plural` where it is not noun + 's' ('studies')."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"
