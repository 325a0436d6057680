"""Segments at run time: evaluating membership, and the scheduled refresh."""
