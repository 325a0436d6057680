"""The journey workflow as it evaluated conditions before they could not raise, for a test
that shows a run it wedged finishes on the current code, without a patch.

Its own module, because the workflow sandbox re-imports the module a workflow is
defined in (see changed_workflow.py).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import cel

    from workflows.journey import JourneyWorkflow
    from workflows.models import WORKFLOW_NAME, CustomerEvent, JourneyRunInput, RunOutcome


@workflow.defn(name=WORKFLOW_NAME)
class ContextOutsideTry(JourneyWorkflow):
    """``_holds`` as it was: the CEL context is built outside the ``try``, so a value CEL
    cannot take (an integer beyond 64 bits) raises out of wait conditions and signal
    handlers, failing the workflow task on every attempt."""

    @workflow.run
    async def run(self, data: JourneyRunInput) -> RunOutcome:
        return await super().run(data)

    def _holds(self, condition: str | None, event: CustomerEvent | None) -> bool:
        if condition is None:
            return True
        program = self.programs.get(condition)
        if program is None:
            program = cel.compile(condition)
            self.programs[condition] = program
        segments = set(self.customer.segments) if self.customer else set()
        context = cel.Context(
            variables=self._variables(event), functions={"segment": lambda n: n in segments}
        )
        try:
            return program.execute(context) is True
        except (KeyError, RuntimeError, ValueError, TypeError):
            return False
