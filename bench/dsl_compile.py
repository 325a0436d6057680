"""Benchmark 5: validate + compile time of a long journey (default 200 steps).

Measures the whole `cxflow validate` path on text: YAML parse with positions,
pydantic shape checks, whole-journey checks (graph, CEL, Liquid, data flow)
and compilation. Run: `python -m bench.dsl_compile [--steps 200] [--repeat 20]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import append_results
from dsl.loader import load_text

KINDS = ("send", "wait", "call", "branch", "update_profile", "wait_for")


def journey_text(steps: int) -> str:
    """A realistic mix of step kinds, every step reachable, with branches and a split."""
    lines = [
        "journey: long",
        "name: Long journey",
        "trigger: { event: signed.up, when: \"event.properties.plan != 'internal'\" }",
        "exit_when: [ { event: user.deleted } ]",
        "goal: { event: order.completed, within: 30d }",
        'settings: { quiet_hours: { start: "21:00", end: "08:00" } }',
        "steps:",
        "  - id: ab",
        "    split:",
        "      experiment: long-test",
        "      variants: [ { name: a, weight: 50, next: s0 }, { name: b, weight: 50, next: s0 } ]",
    ]
    for i in range(steps - 2):
        kind = KINDS[i % len(KINDS)]
        nxt = f"s{i + 1}"
        lines.append(f"  - id: s{i}")
        if kind == "send":
            lines += [
                "    send:",
                "      channel: email",
                f"      subject: \"Step {i} for {{{{ customer.first_name | default: 'you' }}}}\"",
                '      body: "Hello {{ customer.first_name }}, item {{ event.properties.sku }}"',
            ]
        elif kind == "wait":
            lines.append("    wait: 1h")
        elif kind == "call":
            lines += [
                "    call: webhook.post",
                '    with: { url: "https://example.com/hook", body: { n: "{{ customer.id }}" } }',
                f"    save_as: r{i}",
            ]
        elif kind == "branch":
            lines += [
                "    branch:",
                f"      - when: segment('vip') && customer.traits.score > {i}",
                f"        next: {nxt}",
                f"      - else: {nxt}",
            ]
        elif kind == "update_profile":
            lines.append(f'    update_profile: {{ set: {{ last_step: "s{i}" }} }}')
        else:
            lines += [
                '    wait_for: { event: page.viewed, timeout: 1d, when: "event.properties.n > 1" }',
                f"    on_timeout: {nxt}",
            ]
    lines += [f"  - id: s{steps - 2}", "    exit: {}"]
    return "\n".join(lines) + "\n"


def measure(steps: int, repeat: int) -> list[float]:
    text = journey_text(steps)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = load_text(text, "long.yaml")
        timings.append(time.perf_counter() - started)
        if not result.ok:
            raise SystemExit("\n".join(d.render() for d in result.errors))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-record", action="store_true", help="Do not append to docs.")
    args = parser.parse_args()
    timings = measure(args.steps, args.repeat)
    ms = sorted(t * 1000 for t in timings)
    table = (
        "| steps | runs | median ms | p90 ms | min ms |\n|---|---|---|---|---|\n"
        f"| {args.steps} | {args.repeat} | {statistics.median(ms):.1f} | "
        f"{ms[int(len(ms) * 0.9) - 1]:.1f} | {ms[0]:.1f} |"
    )
    print(table)
    if not args.no_record:
        append_results(
            "DSL validate + compile",
            f"python -m bench.dsl_compile --steps {args.steps} --repeat {args.repeat}",
            table,
        )


if __name__ == "__main__":
    main()
