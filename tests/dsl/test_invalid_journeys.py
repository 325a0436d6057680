"""Invalid journeys: every problem is reported with its exact message, line and column.

Each case is a whole journey file with one mistake an author could make; the
expected diagnostics are what `cxflow validate` must print for it: where the
problem is, its stable code (what programs decide on) and what to write instead.
"""

from __future__ import annotations

import pytest

from dsl.loader import load_text

# Each expected diagnostic: (line, column, severity, code, message).
CASES: dict[str, tuple[str, list[tuple[int, int, str, str, str]]]] = {
    "yaml-syntax": (
        """\
journey: welcome
name: [Welcome
trigger: {event: x}
steps: []
""",
        [
            (
                3,
                8,
                "error",
                "yaml_syntax",
                "YAML syntax error: expected ',' or ']', but got ':' (in the [...] list that starts on line 2, column 7); check the indentation, and put quotes around values that contain ': ' or ' #' or start with {, [, *, &, !, %, @ or `",
            ),
        ],
    ),
    "yaml-duplicate-key": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
name: Again
steps:
  - id: done
    exit: {}
""",
        [
            (
                5,
                1,
                "error",
                "yaml_duplicate_key",
                "the key `name` appears twice in the same mapping: keep one of them (YAML would silently drop the other)",
            ),
        ],
    ),
    "yaml-tab-indent": (
        """\
journey: welcome
steps:
	- id: done
""",
        [
            (
                3,
                1,
                "error",
                "yaml_syntax",
                "YAML syntax error: found character '\\t' that cannot start any token; check the indentation, and put quotes around values that contain ': ' or ' #' or start with {, [, *, &, !, %, @ or `",
            ),
        ],
    ),
    "not-a-mapping": (
        """\
- journey: welcome
""",
        [
            (
                1,
                1,
                "error",
                "file_not_mapping",
                "the file is a list: a journey is a mapping with at least `journey`, `name`, `trigger` and `steps` (see docs/dsl-reference.md)",
            ),
        ],
    ),
    "empty-file": (
        """\
""",
        [
            (
                1,
                1,
                "error",
                "file_not_mapping",
                "the file is empty: a journey is a mapping with at least `journey`, `name`, `trigger` and `steps` (see docs/dsl-reference.md)",
            ),
        ],
    ),
    "missing-required": (
        """\
journey: welcome
steps:
  - id: done
    exit: {}
""",
        [
            (
                1,
                1,
                "error",
                "field_required",
                "the journey is missing `name`: add `name: Abandoned cart recovery`",
            ),
            (
                1,
                1,
                "error",
                "field_required",
                "the journey is missing `trigger`: add `trigger: { event: cart.updated }`",
            ),
        ],
    ),
    "bad-journey-id": (
        """\
journey: Welcome Series
name: W
trigger: {event: x}
steps:
  - id: done
    exit: {}
""",
        [
            (
                1,
                10,
                "error",
                "name_invalid",
                "`journey`: 'Welcome Series' is not a valid journey id: use lower-case letters, digits, '-' and '_' (at most 64), for example 'welcome-series'",
            ),
        ],
    ),
    "unknown-top-key": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
stpes: []
steps:
  - id: done
    exit: {}
""",
        [
            (
                5,
                1,
                "error",
                "field_unknown",
                "unknown key `stpes` in the journey: did you mean `steps`?",
            ),
        ],
    ),
    "trigger-misspelt": (
        """\
journey: welcome
name: W
trigger:
  evnt: user.signed_up
steps:
  - id: done
    exit: {}
""",
        [
            (
                4,
                3,
                "error",
                "trigger_kind_missing",
                "`trigger` has no `evnt`: did you mean `event`?",
            ),
        ],
    ),
    "bad-cron": (
        """\
journey: winback
name: W
trigger:
  schedule: '0 25 * * *'
  segment: lapsed
steps:
  - id: done
    exit: {}
""",
        [
            (
                4,
                13,
                "error",
                "cron_invalid",
                "`schedule` in `trigger`: '0 25 * * *' is not a cron schedule: write five fields 'minute hour day month weekday', for example '0 9 * * MON' (every Monday at 09:00)",
            ),
        ],
    ),
    "bad-timezone": (
        """\
journey: winback
name: W
trigger:
  schedule: '0 9 * * MON'
  segment: lapsed
  timezone: Europe/Berln
steps:
  - id: done
    exit: {}
""",
        [
            (
                6,
                13,
                "error",
                "timezone_invalid",
                "`timezone` in `trigger`: 'Europe/Berln' is not an IANA time zone: did you mean 'Europe/Berlin'?",
            ),
        ],
    ),
    "step-without-action": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: pause
    wiat: 1h
""",
        [
            (
                6,
                5,
                "error",
                "step_kind_missing",
                "step 'pause' has no action: `wiat` is not one; did you mean `wait`?",
            ),
        ],
    ),
    "step-two-actions": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: pause
    wait: 1h
    exit: {}
""",
        [
            (
                6,
                5,
                "error",
                "step_kind_conflict",
                "step 'pause' has both `wait` and `exit`: a step does one thing, so split it into 2 steps",
            ),
        ],
    ),
    "step-missing-id": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - wait: 1h
""",
        [
            (6, 5, "error", "field_required", "step 1 is missing `id`: add `id: send-reminder`"),
        ],
    ),
    "bad-duration": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: pause
    wait: 1 hour
""",
        [
            (
                7,
                11,
                "error",
                "duration_invalid",
                "`wait` in step 'pause': '1 hour' is not a duration: write a duration such as 30m, 1h, 2d, 1w or 1d12h (units w, d, h, m, s)",
            ),
        ],
    ),
    "wait-for-missing-timeout": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: order
    wait_for:
      event: order.completed
  - id: done
    exit: {}
""",
        [
            (
                8,
                7,
                "error",
                "field_required",
                "wait_for of step 'order' is missing `timeout`: add `timeout: 2d`",
            ),
        ],
    ),
    "unknown-key-in-send": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: hello
    send:
      chanel: email
      body: Hi
""",
        [
            (
                8,
                7,
                "error",
                "field_unknown",
                "unknown key `chanel` in send of step 'hello': did you mean `channel`?",
            ),
        ],
    ),
    "reentry-literal": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
entry:
  reentry: never
steps:
  - id: done
    exit: {}
""",
        [
            (
                6,
                12,
                "error",
                "choice_invalid",
                "`reentry` in `entry` is the text 'never': write one of 'once' or 'always', or `{after: 7d}` to allow re-entry after a while",
            ),
        ],
    ),
    "quiet-hours-time": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
settings:
  quiet_hours: { start: 9pm, end: "08:00" }
steps:
  - id: done
    exit: {}
""",
        [
            (
                6,
                25,
                "error",
                "time_of_day_invalid",
                '`start` in `settings.quiet_hours`: \'9pm\' is not a time of day: write 24-hour time in quotes, such as "08:00" or "21:30"',
            ),
        ],
    ),
    "weight-wrong-type": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: ab
    split:
      experiment: e1
      variants:
        - { name: a, weight: half }
        - { name: b, weight: 50 }
""",
        [
            (
                10,
                30,
                "error",
                "type_invalid",
                "`weight` in split of step 'ab' must be a number, not the text 'half', for example `weight: 50`",
            ),
        ],
    ),
    "duplicate-step-id": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: pause
    wait: 1h
  - id: pause
    wait: 2h
""",
        [
            (
                8,
                9,
                "error",
                "duplicate_step_id",
                "step id 'pause' is already used by the step on line 6: give each step its own id",
            ),
        ],
    ),
    "next-to-nothing": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: pause
    wait: 1h
    next: dnoe
  - id: done
    exit: {}
""",
        [
            (8, 11, "error", "unknown_step", "there is no step 'dnoe': did you mean 'done'?"),
        ],
    ),
    "unreachable-step": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: pause
    wait: 1h
    next: done
  - id: orphan
    send: { channel: email, body: Hi }
  - id: done
    exit: {}
""",
        [
            (
                9,
                9,
                "error",
                "step_unreachable",
                "step 'orphan' is never reached: no step goes to it. Point a `next:` (or a branch case or variant) at it, or remove it",
            ),
        ],
    ),
    "loop-without-wait": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: a
    update_profile: { set: { x: 1 } }
  - id: b
    branch:
      - when: customer.traits.x == 1
        next: a
      - else: done
  - id: done
    exit: {}
""",
        [
            (
                6,
                9,
                "error",
                "loop_without_wait",
                "the steps a -> b -> a form a loop with no wait: a run would go round it forever at once. Add a `wait` or `wait_for` step inside the loop",
            ),
        ],
    ),
    "weights-not-100": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: ab
    split:
      experiment: e1
      variants:
        - { name: a, weight: 50 }
        - { name: b, weight: 45 }
""",
        [
            (
                10,
                9,
                "error",
                "weights_not_100",
                "the variant weights add up to 95, not 100: change them so they add up to 100",
            ),
        ],
    ),
    "duplicate-variant": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: ab
    split:
      experiment: e1
      variants:
        - { name: a, weight: 50 }
        - { name: a, weight: 50 }
""",
        [
            (
                11,
                19,
                "error",
                "duplicate_variant_name",
                "variant name 'a' is used twice: name each variant once",
            ),
        ],
    ),
    "branch-without-else": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: vip
    branch:
      - when: segment('vip')
        next: done
  - id: done
    exit: {}
""",
        [
            (
                8,
                7,
                "error",
                "branch_else_missing",
                "the branch of step 'vip' has no `else`: add `- else: <step-id>` as its last item, for customers no case matches",
            ),
        ],
    ),
    "next-on-branch": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: vip
    branch:
      - when: segment('vip')
        next: done
      - else: done
    next: done
  - id: done
    exit: {}
""",
        [
            (
                11,
                5,
                "error",
                "next_not_allowed",
                "a branch step has no `next`: each case names its step with `next:`, and `else:`",
            ),
        ],
    ),
    "cel-syntax": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: vip
    branch:
      - when: "customer.traits.plan == "
        next: done
      - else: done
  - id: done
    exit: {}
""",
        [
            (
                8,
                40,
                "error",
                "condition_syntax",
                "the condition does not parse at column 25: it ends too early (is an operand missing?)",
            ),
        ],
    ),
    "cel-unknown-variable": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: vip
    branch:
      - when: cutsomer.traits.plan == 'gold'
        next: done
      - else: done
  - id: done
    exit: {}
""",
        [
            (
                8,
                15,
                "error",
                "unknown_variable",
                "`cutsomer` is not known here; a condition here can use `customer`, `event`, `now`, `today`, `trigger` and segment('name'); did you mean `customer`?",
            ),
        ],
    ),
    "cel-unknown-function": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
  when: sgement('vip')
steps:
  - id: done
    exit: {}
""",
        [
            (
                5,
                9,
                "error",
                "unknown_function",
                "there is no function sgement(): did you mean segment()?",
            ),
        ],
    ),
    "saved-result-used-before-saved": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: hello
    send: { channel: email, body: "Code {{ coupon.code }}" }
  - id: make-coupon
    call: shop.create_discount
    save_as: coupon
""",
        [
            (
                7,
                35,
                "error",
                "unknown_variable",
                "the template uses `coupon`, but step 'make-coupon' that saves it does not come before step 'hello'",
            ),
        ],
    ),
    "liquid-syntax": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: hello
    send: { channel: email, body: "Hi {{ customer.first_name " }
""",
        [
            (
                7,
                39,
                "error",
                "liquid_syntax",
                "the Liquid template does not parse: expected '}}', found end of file",
            ),
        ],
    ),
    "liquid-unknown-filter": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: hello
    send: { channel: email, subject: "{{ customer.first_name | upcse }}", body: Hi }
""",
        [
            (
                7,
                38,
                "error",
                "unknown_liquid_filter",
                "the Liquid filter `upcse` does not exist: did you mean `upcase`?",
            ),
        ],
    ),
    "reserved-save-as": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: c
    call: shop.create_discount
    save_as: customer
""",
        [
            (
                8,
                14,
                "error",
                "save_as_reserved",
                "`customer` is a reserved name (brand, customer, event, journey, links, now, segment, today, trigger): save the result under another name, e.g. `save_as: customer_result`",
            ),
        ],
    ),
    "send-nothing": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: hello
    send: { channel: email }
""",
        [
            (
                7,
                11,
                "error",
                "send_empty",
                "step 'hello' has nothing to send: name a `template:` with a body or html, or write a `body:`",
            ),
        ],
    ),
    "bad-action-ref": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: c
    call: create_discount
""",
        [
            (
                7,
                11,
                "error",
                "action_invalid",
                "`call` in step 'c': 'create_discount' does not name a connector action: write <connector>.<action>, for example shop.create_discount",
            ),
        ],
    ),
    "exit-with-next": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: done
    exit: {}
    next: done
""",
        [
            (
                8,
                5,
                "error",
                "next_not_allowed",
                "an exit step ends the run, so it has no `next`: remove it",
            ),
        ],
    ),
    "too-few-variants": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: ab
    split:
      experiment: e1
      variants:
        - { name: a, weight: 100 }
""",
        [
            (
                10,
                9,
                "error",
                "list_too_short",
                "split of step 'ab' needs at least two variants, e.g. a variant and a holdout",
            ),
        ],
    ),
    "bad-weekday": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: morning
    wait: { until: "09:00", weekdays: [mon, funday] }
""",
        [
            (
                7,
                45,
                "error",
                "choice_invalid",
                "item 2 of `weekdays` in wait of step 'morning' is the text 'funday': write one of 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'",
            ),
        ],
    ),
    "frequency-cap-zero": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
settings:
  frequency_cap: { max: 0, per: 1d }
steps:
  - id: done
    exit: {}
""",
        [
            (
                6,
                25,
                "error",
                "number_out_of_range",
                "`max` in `settings.frequency_cap` must be at least 1, not the number 0",
            ),
        ],
    ),
    "goal-bad-window": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
goal:
  event: order.completed
  within: forever
steps:
  - id: done
    exit: {}
""",
        [
            (
                7,
                11,
                "error",
                "duration_invalid",
                "`within` in `goal`: 'forever' is not a duration: write a duration such as 30m, 1h, 2d, 1w or 1d12h (units w, d, h, m, s)",
            ),
        ],
    ),
    "trigger-not-mapping": (
        """\
journey: welcome
name: W
trigger: user.signed_up
steps:
  - id: done
    exit: {}
""",
        [
            (
                3,
                10,
                "error",
                "trigger_kind_missing",
                "`trigger` needs one of event, segment, schedule, api, e.g. `trigger: {event: cart.updated}`, not the text 'user.signed_up'",
            ),
        ],
    ),
    "wait-for-condition-scope": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: survey
    wait_for:
      event: survey.responded
      when: response.properties.score > 8
      timeout: 3d
    save_as: response
""",
        [
            (
                9,
                13,
                "error",
                "unknown_variable",
                "`response` is not known here; a condition here can use `customer`, `event`, `now`, `today`, `trigger` and segment('name')",
            ),
        ],
    ),
    "saved-on-some-paths": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: ab
    split:
      experiment: e1
      variants:
        - { name: a, weight: 50, next: coupon }
        - { name: b, weight: 50, next: mail }
  - id: coupon
    call: shop.create_discount
    save_as: coupon
  - id: mail
    send: { channel: email, body: "{{ coupon.code }}" }
""",
        [
            (
                16,
                35,
                "warning",
                "variable_sometimes_saved",
                "the template uses `coupon`, which is saved on some paths to step 'mail' but not on all: on the others it renders empty",
            ),
        ],
    ),
    "else-not-last": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: vip
    branch:
      - else: done
      - when: segment('vip')
        next: done
  - id: done
    exit: {}
""",
        [
            (
                9,
                9,
                "error",
                "else_not_last",
                "this case comes after `else` and can never match: move `- else:` to the end",
            ),
        ],
    ),
    "duplicate-experiment": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: ab
    split:
      experiment: e1
      variants:
        - { name: a, weight: 50 }
        - { name: b, weight: 50 }
  - id: cd
    split:
      experiment: e1
      variants:
        - { name: a, weight: 50 }
        - { name: b, weight: 50 }
""",
        [
            (
                14,
                19,
                "error",
                "duplicate_experiment",
                "experiment 'e1' is already used by step 'ab': give each split its own experiment key",
            ),
        ],
    ),
    "duration-too-long": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: pause
    wait: 1000000000d
""",
        [
            (
                7,
                11,
                "error",
                "duration_invalid",
                "`wait` in step 'pause': '1000000000d' is too long: a duration is at most 3650d (about ten years)",
            ),
        ],
    ),
    "weight-nan": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: ab
    split:
      experiment: e1
      variants:
        - { name: a, weight: .nan }
        - { name: b, weight: 50 }
""",
        [
            (
                10,
                30,
                "error",
                "type_invalid",
                "`weight` in split of step 'ab' must be a finite number, not the number nan, for example `weight: 50`",
            ),
        ],
    ),
    "event-in-schedule-journey": (
        """\
journey: winback
name: W
trigger: { schedule: '0 9 * * MON', segment: lapsed }
steps:
  - id: hello
    send: { channel: email, body: "{{ event.properties.total }}" }
""",
        [
            (
                6,
                35,
                "error",
                "unknown_variable",
                "the template uses `event`, but runs of this journey start from a segment or a schedule, not an event: use `customer` instead",
            ),
        ],
    ),
    "wait-for-result-on-timeout-path": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: survey
    wait_for: { event: survey.responded, timeout: 3d }
    save_as: response
    on_timeout: reminder
    next: done
  - id: reminder
    send: { channel: email, body: "Score {{ response.properties.score }}" }
  - id: done
    exit: {}
""",
        [
            (
                12,
                35,
                "error",
                "unknown_variable",
                "the template uses `response`, which step 'survey' saves only when its event arrives, not on the timeout path that leads to step 'reminder'",
            ),
        ],
    ),
    "weight-as-text": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: ab
    split:
      experiment: e1
      variants:
        - { name: a, weight: "50" }
        - { name: b, weight: 50 }
""",
        [
            (
                10,
                30,
                "error",
                "type_invalid",
                "`weight` in split of step 'ab' must be a number, not the text '50', for example `weight: 50`",
            ),
        ],
    ),
    "holdout-not-boolean": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: ab
    split:
      experiment: e1
      variants:
        - { name: a, weight: 50, holdout: "yes" }
        - { name: b, weight: 50 }
""",
        [
            (
                10,
                43,
                "error",
                "type_invalid",
                "`holdout` in split of step 'ab' must be true or false, not the text 'yes'",
            ),
        ],
    ),
    "random-cron": (
        """\
journey: winback
name: W
trigger:
  schedule: 'R R * * *'
  segment: lapsed
steps:
  - id: done
    exit: {}
""",
        [
            (
                4,
                13,
                "error",
                "cron_invalid",
                "`schedule` in `trigger`: 'R R * * *' is not a cron schedule: write five fields 'minute hour day month weekday', for example '0 9 * * MON' (every Monday at 09:00)",
            ),
        ],
    ),
    "duration-with-space": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: pause
    wait: ' 1h'
""",
        [
            (
                7,
                11,
                "error",
                "duration_invalid",
                "`wait` in step 'pause': ' 1h' is not a duration: write a duration such as 30m, 1h, 2d, 1w or 1d12h (units w, d, h, m, s)",
            ),
        ],
    ),
    "unsupported-cel-function": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: b
    branch:
      - when: max(1, 2) == 2
        next: done
      - else: done
  - id: done
    exit: {}
""",
        [
            (8, 15, "error", "unknown_function", "there is no function max(): did you mean map()?"),
        ],
    ),
    "two-triggers": (
        """\
journey: j
name: J
trigger: {event: user.signed_up, segment: vip}
steps:
  - id: done
    exit: {}
""",
        [
            (
                3,
                10,
                "error",
                "trigger_kind_conflict",
                "`trigger` has both `event` and `segment`: a journey has one trigger (a schedule takes a segment); to let only a segment's members in, use `entry: {segment: ...}`",
            ),
        ],
    ),
    "unquoted-cel-negation": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: b
    branch:
      - when: !has(customer.traits.email)
        next: done
      - else: done
  - id: done
    exit: {}
""",
        [
            (
                8,
                15,
                "error",
                "yaml_tag",
                'YAML reads `!has(customer.traits.email)` as a tag, not as text: put the whole value in quotes, e.g. "!has(customer.traits.email)"',
            ),
        ],
    ),
    "empty-exit": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: done
    exit:
""",
        [
            (
                7,
                5,
                "error",
                "type_invalid",
                "`exit` in step 'done' must be a mapping of keys to values, not an empty value, for example `exit: {}`",
            ),
        ],
    ),
    "segment-name-format": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: b
    branch:
      - when: segment('VIP users')
        next: done
      - else: done
  - id: done
    exit: {}
""",
        [
            (
                8,
                15,
                "error",
                "segment_call_invalid",
                "segment('VIP users') must name a segment in quotes, in lower case with '-' or '_', e.g. segment('vip-customers')",
            ),
        ],
    ),
    "event-in-segment-journey-condition": (
        """\
journey: j
name: J
trigger: {segment: vip}
steps:
  - id: b
    branch:
      - when: event.properties.total > 5
        next: done
      - else: done
  - id: done
    exit: {}
""",
        [
            (
                7,
                15,
                "error",
                "unknown_variable",
                "`event` is not known here: runs of this journey start from a segment or a schedule, not an event; use `customer` instead",
            ),
        ],
    ),
    "liquid-render-tag": (
        """\
journey: welcome
name: Welcome
trigger:
  event: user.signed_up
steps:
  - id: hello
    send: { channel: email, body: "{% render 'footer' %}" }
""",
        [
            (
                7,
                35,
                "error",
                "liquid_include",
                "messages cannot {% render %} or {% include %} other templates: write the text into this one",
            ),
        ],
    ),
    "wait-for-compares-the-awaited-event-with-itself": (
        """\
journey: support
name: Support follow-up
trigger: {event: ticket.opened}
steps:
  - id: closed
    wait_for:
      event: ticket.closed
      when: event.properties.ticket_id == event.properties.ticket_id
      timeout: 7d
  - id: done
    exit: {}
""",
        [
            (
                8,
                13,
                "error",
                "condition_self_comparison",
                "`event.properties.ticket_id == event.properties.ticket_id` compares event.properties.ticket_id with itself, so it is always true: to compare this event with the one that started the run, write `trigger.properties.ticket_id` on one side",
            ),
        ],
    ),
    "trigger-in-a-segment-journey": (
        """\
journey: vip
name: VIP
trigger: {segment: vip}
exit_when:
  - event: order.refunded
    when: event.properties.order_id == trigger.properties.order_id
steps:
  - id: done
    exit: {}
""",
        [
            (
                6,
                11,
                "error",
                "unknown_variable",
                "`trigger` is not known here: runs of this journey start from a segment or a schedule, not an event; use `customer` instead",
            ),
        ],
    ),
    "send-channel-listed-twice": (
        """\
journey: hello
name: Hello
trigger: {event: signed_up}
steps:
  - id: hello
    send: {channel: [sms, email, sms], body: Hi}
""",
        [
            (
                6,
                21,
                "error",
                "value_invalid",
                "`channel` in send of step 'hello': sms is listed twice: name each channel once, in the order to try them",
            ),
        ],
    ),
    "wait-until-data-bad-offset": (
        """\
journey: renewals
name: Renewals
trigger: {event: subscribed}
steps:
  - id: before-renewal
    wait: {until: customer.traits.renewal_at, offset: -7x}
""",
        [
            (
                6,
                55,
                "error",
                "duration_invalid",
                "`offset` in wait of step 'before-renewal': '-7x' is not a duration: write one such as 2h, or -7d for before",
            ),
        ],
    ),
    "wait-until-time-of-day-with-offset": (
        """\
journey: renewals
name: Renewals
trigger: {event: subscribed}
steps:
  - id: later
    wait: {until: "09:00", offset: 1d}
""",
        [
            (
                6,
                19,
                "error",
                "wait_invalid",
                '`until` in wait of step \'later\': "09:00" is a time of day: `offset`, `every` and `at` go with a date from the data, such as `until: customer.traits.renewal_at`; for a time of day write `wait: {until: "09:00"}` alone',
            ),
        ],
    ),
    "wait-for-data-bounds": (
        """\
journey: trials
name: Trials
trigger: {event: trial.started}
steps:
  - id: trial
    wait: {for: customer.traits.trial_days, at_least: 2d, at_most: 1d}
""",
        [
            (
                6,
                55,
                "error",
                "wait_invalid",
                "`at_least` (2d) is longer than `at_most` (1d): swap them",
            ),
        ],
    ),
    "wait-for-data-without-a-longest": (
        """\
journey: trials
name: Trials
trigger: {event: trial.started}
steps:
  - id: grace
    wait: {for: customer.traits.grace_days}
""",
        [
            (
                6,
                11,
                "error",
                "field_required",
                "wait of step 'grace' is missing `at_most`: add `at_most: 30d`",
            ),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_invalid_journey_reports_exact_diagnostics(name: str) -> None:
    text, expected = CASES[name]
    result = load_text(text, "j.yaml")
    actual = [
        (d.line, d.column, d.severity.value, d.code.value, d.message) for d in result.diagnostics
    ]
    assert actual == expected
    assert result.compiled is None or all(e[2] == "warning" for e in expected)


def test_there_are_at_least_25_distinct_error_cases() -> None:
    messages = {e[4] for _, expected in CASES.values() for e in expected if e[2] == "error"}
    assert len(messages) >= 25


def test_the_cases_cover_at_least_40_distinct_codes() -> None:
    codes = {e[3] for _, expected in CASES.values() for e in expected}
    assert len(codes) >= 40


def test_all_errors_of_a_file_are_reported_at_once() -> None:
    text = CASES["duplicate-step-id"][0] + "  - id: x\n    wait: 1h\n    next: nowhere\n"
    text += "  - id: ab\n    split:\n      experiment: e\n      variants:\n"
    text += "        - { name: a, weight: 10 }\n        - { name: b, weight: 10 }\n"
    messages = [d.message for d in load_text(text, "j.yaml").errors]
    assert any("already used" in m for m in messages)
    assert any("there is no step 'nowhere'" in m for m in messages)
    assert any("add up to 20" in m for m in messages)
