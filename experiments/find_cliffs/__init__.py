"""`python -m experiments.find_cliffs --csv=FILE --columns=a,b`: axis-aligned cliffs of a table."""
