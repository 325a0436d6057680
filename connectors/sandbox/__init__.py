"""Local stand-ins for providers, so `cxflow dev` runs every shipped journey offline.

They are real HTTP servers on 127.0.0.1 speaking a subset of the provider's API
(same paths, status codes and JSON), not mocks: the connectors talk to them
exactly as they would to the provider, only the URL and the credentials differ.
"""

from __future__ import annotations

from connectors.sandbox.shopify import ShopifySandbox

__all__ = ["ShopifySandbox"]
