"""The clock: APScheduler jobs that decide what to send and when (arrives with the
promotions work). Jobs only write rows. May import channels, bot and rewards."""
