"""Rehearsals: journeys run on Temporal's time-skipping server against test cases.

`cxflow test` loads test files (:mod:`dsl.case_loader`), runs every case side by side
on one time-skipping server with the real workflow, activities, store (a throwaway
SQLite file per test file) and router, but with connectors that answer from the
test's fixtures and send nothing (:mod:`.doubles`); what the runs did is noted in a
:class:`~engine.rehearsal.journal.Journal` and judged against the expectations
(:mod:`.verdicts`). ``runner`` drives the shared clock; ``report`` prints the results
and writes JUnit XML.
"""
