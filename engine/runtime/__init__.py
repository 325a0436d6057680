"""What runs for the workflows: activities, the Temporal client and dev server, schedules."""
