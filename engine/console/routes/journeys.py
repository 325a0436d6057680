"""The console's journeys pages (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
