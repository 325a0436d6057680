"""The one way in for events: Segment-style calls checked, stored, then routed to journeys."""
