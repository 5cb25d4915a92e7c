"""The antq services (units, tips, awards, notify) and the command line that runs them."""
