"""Real peers for tests: small servers that behave like the systems cxflow talks to."""
