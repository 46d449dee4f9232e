"""Each saga drawn from its definition (Mermaid), so the picture cannot drift from the code:
the steps in order with the participant each asks, where a failure leads (compensation in
reverse order, parking for an operator past the pivot or in sagas that never undo, the recovery
steps after a compensated failure), and which steps may wait or be skipped."""

from __future__ import annotations

from itertools import pairwise

from booking.domain.saga_engine import OnFailure, SagaDefinition, Step


def _node(step: Step) -> str:
    notes = [step.participant.value]
    if step.waiting is not None:
        notes.append(f"may wait for {step.waiting.reply.__name__}")
    if step.skip_if is not None:
        notes.append("skipped when nothing to do")
    return f'{step.name}["{step.name}<br/><small>{" · ".join(notes)}</small>"]'


def mermaid(definition: SagaDefinition) -> str:
    """The saga as a Mermaid flowchart (top to bottom)."""
    lines = ["flowchart TD", "  start([start])", "  succeeded([succeeded])"]
    steps = definition.steps
    names = [s.name for s in steps]
    lines += [f"  {_node(s)}" for s in (*steps, *definition.recovery)]
    lines.append(f"  start --> {names[0]}")
    for step, after in zip(steps, [*names[1:], "succeeded"], strict=True):
        lines.append(f"  {step.name} -->|{step.success.__name__}| {after}")
    parked = compensating = False
    for i, step in enumerate(steps):
        failed = ", ".join(sorted(f.__name__ for f in step.failures)) or "its deadline"
        if definition.on_failure is OnFailure.PARK or definition.past_pivot(step.name):
            lines.append(f"  {step.name} -.->|{failed}| parked")
            parked = True
            continue
        undo = [s.compensation for s in reversed(steps[:i]) if s.compensation is not None]
        first = f"undo_{undo[0].name}" if undo else "compensated"
        lines.append(f"  {step.name} -.->|{failed}| {first}")
        compensating = True
    if compensating:
        undo_all = [s.compensation for s in reversed(steps) if s.compensation is not None]
        lines += [
            f'  undo_{c.name}["{c.name}<br/><small>{c.participant.value}</small>"]'
            for c in undo_all
        ]
        lines += ["  compensated{{compensated}}", "  failed([failed])"]
        path = [
            *(f"undo_{c.name}" for c in undo_all),
            "compensated",
            *(r.name for r in definition.recovery),
            "failed",
        ]
        lines += [f"  {a} --> {b}" for a, b in pairwise(path)]
    if parked:
        lines.append("  parked([parked: an operator retries])")
    return "\n".join(lines) + "\n"
