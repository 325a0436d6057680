"""Local stand-ins for providers, so `cxflow dev` runs every shipped journey offline."""
