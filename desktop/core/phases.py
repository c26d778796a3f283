"""WARP's phases and every rule that decides which one is due (warp.md, "Transitions").

Two pure functions hold all of it. `after(action, state, config)`: where a step goes once its
action is applied (search → init_plan or write, init_plan → search, extend-plan → search,
nop → done, write → the cursor rule). `next_phase(state, config)`: the cursor rule and the
budgets (max_step, max_extend, nothing left to expand), used by the engine before every step
and by edit normalisation (`desktop.core.commands`, without budgets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from desktop.core.actions import (
    Action,
    ExtendPlan,
    InitPlan,
    Nop,
    Search,
    Write,
    expandable_positions,
)
from desktop.core.state import Phase, RunConfig, RunState


@dataclass(frozen=True, slots=True)
class Next:
    """The phase due now, and why the run stops when it is `done`."""

    phase: Phase
    stop_reason: str | None = None


def next_phase(state: RunState, config: RunConfig | None) -> Next:
    """The phase due for `state`, by the cursor rule (and, with `config`, the budgets).

    - Before the outline exists, and while init_plan is due, nothing changes.
    - While a section is the cursor: a write goes on only with a pack searched for that very
      section; anything else searches first (so every write is preceded by one search).
    - Once every section is written or locked, the run deepens (extend_plan) — or, with
      `config`, stops: a write ends the run when the extension budget is spent (max_extend);
      a due extension also ends it when nothing can be expanded. A user's deepen target
      forces one extension regardless of the budget.
    - A finished run stays finished unless an edit gave it a cursor again.

    - With `config`, a run that has taken max_step steps is done, whatever its phase.

    Without `config` (edit normalisation, which knows no budgets) the budgets are left to the
    engine's next step.
    """
    phase = state.phase
    if config is not None and phase != "done" and state.step >= config.max_step:
        return Next("done", "max_step")
    outline = state.outline
    if outline is None or phase == "init_plan":
        return Next(phase, state.stop_reason)
    cursor = outline.cursor()
    if cursor is not None:
        if phase == "search" or (phase == "write" and state.pack_for == cursor.section.id):
            return Next(phase)
        return Next("search")
    forced = state.deepen_target is not None
    if phase == "done" and not forced:
        return Next("done", state.stop_reason)
    if config is None:
        return Next("extend_plan")
    spent = not forced and state.extend_count >= config.max_extend
    if spent:
        return Next("done", "max_extend")
    if phase == "extend_plan" and not expandable_positions(outline, state.deepen_target):
        return Next("done", "nothing to expand")
    return Next("extend_plan")


def settle(state: RunState, config: RunConfig | None) -> RunState:
    """`state` in the phase `next_phase` says is due (unchanged when it already is)."""
    due = next_phase(state, config)
    if due.phase == state.phase and due.stop_reason == state.stop_reason:
        return state
    if due.phase == "done":
        return state.evolve(phase="done", stop_reason=due.stop_reason, deepen_target=None)
    return state.evolve(phase=due.phase, stop_reason=None)


def after(action: Action, state: RunState, config: RunConfig | None) -> Next:
    """Where a step goes once `action` has been applied to `state` (warp.md, "Transitions").

    A search before any outline exists feeds init_plan, any later one the write of the section
    it was made for; a plan (initial or extension) is followed by a search; nop ends the run;
    after a write the cursor rule decides (the next section's search, deepening, or the end).
    """
    match action:
        case Search():
            return Next("init_plan" if state.outline is None else "write")
        case InitPlan() | ExtendPlan():
            return Next("search")
        case Nop():
            return Next("done", "nop")
        case Write():
            return next_phase(state.evolve(phase="write"), config)
        case _:
            assert_never(action)
