"""Privacy: consent per channel, and erasing a customer everywhere."""
