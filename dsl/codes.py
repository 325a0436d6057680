"""The stable problem codes of diagnostics, each with what it means.

A diagnostic's ``message`` is written for the person who fixes the file and may be
reworded at any time; its ``code`` names the kind of problem and does not change, so
programs (the CLI, editors, CI scripts, tests) decide on the code, never on the text.
The same kind of problem has the same code wherever it is found: a journey, a
template file or a segment file. docs/dsl-reference.md ("Problem codes") says what to
do about each.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class DiagnosticCode(StrEnum):
    """What kind of problem a diagnostic reports."""

    # reading the file
    FILE_NOT_FOUND = "file_not_found"
    FILE_IS_FOLDER = "file_is_folder"
    FILE_TOO_LARGE = "file_too_large"
    FILE_NOT_UTF8 = "file_not_utf8"
    FILE_UNREADABLE = "file_unreadable"
    FILE_NOT_MAPPING = "file_not_mapping"
    YAML_SYNTAX = "yaml_syntax"
    YAML_DUPLICATE_KEY = "yaml_duplicate_key"
    YAML_MULTIPLE_DOCUMENTS = "yaml_multiple_documents"
    YAML_TAG = "yaml_tag"
    YAML_RECURSIVE = "yaml_recursive"
    YAML_ALIAS_LIMIT = "yaml_alias_limit"
    # the shape of each key
    FIELD_REQUIRED = "field_required"
    FIELD_UNKNOWN = "field_unknown"
    TYPE_INVALID = "type_invalid"
    CHOICE_INVALID = "choice_invalid"
    NUMBER_OUT_OF_RANGE = "number_out_of_range"
    LIST_TOO_SHORT = "list_too_short"
    VALUE_INVALID = "value_invalid"
    STEP_KIND_MISSING = "step_kind_missing"
    STEP_KIND_CONFLICT = "step_kind_conflict"
    TRIGGER_KIND_MISSING = "trigger_kind_missing"
    TRIGGER_KIND_CONFLICT = "trigger_kind_conflict"
    BRANCH_ITEM_INVALID = "branch_item_invalid"
    REENTRY_INVALID = "reentry_invalid"
    WAIT_INVALID = "wait_invalid"
    # value formats
    NAME_INVALID = "name_invalid"
    VARIABLE_NAME_INVALID = "variable_name_invalid"
    ACTION_INVALID = "action_invalid"
    EVENT_NAME_INVALID = "event_name_invalid"
    DURATION_INVALID = "duration_invalid"
    TIME_OF_DAY_INVALID = "time_of_day_invalid"
    TIMEZONE_INVALID = "timezone_invalid"
    CRON_INVALID = "cron_invalid"
    CURRENCY_INVALID = "currency_invalid"
    NAME_RESERVED = "name_reserved"
    # the journey as a whole
    DUPLICATE_STEP_ID = "duplicate_step_id"
    SAVE_AS_RESERVED = "save_as_reserved"
    NEXT_NOT_ALLOWED = "next_not_allowed"
    UNKNOWN_STEP = "unknown_step"
    ON_ERROR_NOT_ALLOWED = "on_error_not_allowed"
    BRANCH_ELSE_MISSING = "branch_else_missing"
    DUPLICATE_ELSE = "duplicate_else"
    ELSE_NOT_LAST = "else_not_last"
    STEP_UNREACHABLE = "step_unreachable"
    LOOP_WITHOUT_WAIT = "loop_without_wait"
    DUPLICATE_EXPERIMENT = "duplicate_experiment"
    WEIGHTS_NOT_100 = "weights_not_100"
    DUPLICATE_VARIANT_NAME = "duplicate_variant_name"
    DUPLICATE_HOLDOUT = "duplicate_holdout"
    QUIET_HOURS_EMPTY = "quiet_hours_empty"
    WEEKDAYS_EMPTY = "weekdays_empty"
    # conditions (CEL)
    CONDITION_EMPTY = "condition_empty"
    CONDITION_SYNTAX = "condition_syntax"
    CONDITION_TOO_DEEP = "condition_too_deep"
    UNKNOWN_FUNCTION = "unknown_function"
    SEGMENT_CALL_INVALID = "segment_call_invalid"
    UNKNOWN_VARIABLE = "unknown_variable"
    VARIABLE_SOMETIMES_SAVED = "variable_sometimes_saved"
    # messages and templates (Liquid)
    LIQUID_SYNTAX = "liquid_syntax"
    LIQUID_INCLUDE = "liquid_include"
    UNKNOWN_LIQUID_FILTER = "unknown_liquid_filter"
    TEMPLATES_UNCHECKED = "templates_unchecked"
    TEMPLATE_MISSING = "template_missing"
    TEMPLATE_INVALID = "template_invalid"
    MJML_INVALID = "mjml_invalid"
    SEND_EMPTY = "send_empty"
    # what the journey needs from the installation
    CONNECTOR_MISSING = "connector_missing"
    CHANNEL_CONSOLE_FALLBACK = "channel_console_fallback"
    UNKNOWN_SEGMENT = "unknown_segment"
    EXPERIMENT_SPLIT_CHANGED = "experiment_split_changed"
    # segment files
    SEGMENT_ID_MISMATCH = "segment_id_mismatch"
    CONDITION_KIND_MISSING = "condition_kind_missing"
    CONDITION_KIND_CONFLICT = "condition_kind_conflict"
    FIELD_PATH_INVALID = "field_path_invalid"
    COMPARISON_COUNT = "comparison_count"
    TRAIT_TEST_COUNT = "trait_test_count"
    REGEX_INVALID = "regex_invalid"
    DATE_INVALID = "date_invalid"
    VALUE_TEST_COUNT = "value_test_count"
    VALUE_TEST_MISMATCH = "value_test_mismatch"
    # journey test files
    CASE_JOURNEY_NOT_FOUND = "case_journey_not_found"
    TIMELINE_KIND = "timeline_kind"
    TIMELINE_ORDER = "timeline_order"
    CONDITION_SELF_COMPARISON = "condition_self_comparison"
    TIMELINE_TRIGGER_MISMATCH = "timeline_trigger_mismatch"
    UNKNOWN_EXPERIMENT = "unknown_experiment"
    UNKNOWN_VARIANT = "unknown_variant"
    UNKNOWN_ACTION = "unknown_action"
    ANSWER_INVALID = "answer_invalid"
    CUSTOMER_ID_REPEATED = "customer_id_repeated"


_C = DiagnosticCode

MEANINGS: Mapping[DiagnosticCode, str] = MappingProxyType(
    {
        _C.FILE_NOT_FOUND: "the file named does not exist",
        _C.FILE_IS_FOLDER: "a folder was named where a file was expected",
        _C.FILE_TOO_LARGE: "the file is larger than a journey or segment file can be",
        _C.FILE_NOT_UTF8: "the file is not UTF-8 text",
        _C.FILE_UNREADABLE: "the file exists but cannot be read",
        _C.FILE_NOT_MAPPING: "the file is empty, or holds a list or a value instead of a mapping",
        _C.YAML_SYNTAX: "the file is not valid YAML",
        _C.YAML_DUPLICATE_KEY: "a key appears twice in the same mapping",
        _C.YAML_MULTIPLE_DOCUMENTS: "the file holds more than one YAML document",
        _C.YAML_TAG: "an unquoted value starting with ! was read as a YAML tag",
        _C.YAML_RECURSIVE: "the YAML nests too deeply, or an alias contains itself",
        _C.YAML_ALIAS_LIMIT: "the file uses too many aliases, or aliases that repeat too much",
        _C.FIELD_REQUIRED: "a required key is missing",
        _C.FIELD_UNKNOWN: "a key is not one the DSL knows at that place",
        _C.TYPE_INVALID: "a value has the wrong type (text, number, list, mapping...)",
        _C.CHOICE_INVALID: "a value is not one of the few values the key allows",
        _C.NUMBER_OUT_OF_RANGE: "a number is below or above what the key allows",
        _C.LIST_TOO_SHORT: "a list is empty or has fewer items than it needs",
        _C.VALUE_INVALID: "a value is not valid for its key (any other kind of value problem)",
        _C.STEP_KIND_MISSING: "a step has no action (send, call, wait, ...) or is not a mapping",
        _C.STEP_KIND_CONFLICT: "a step has more than one action",
        _C.TRIGGER_KIND_MISSING: "the trigger has none of event, segment, schedule, api",
        _C.TRIGGER_KIND_CONFLICT: "the trigger has more than one of event, segment, schedule, api",
        _C.BRANCH_ITEM_INVALID: "a branch item is neither a when/next case nor an else",
        _C.REENTRY_INVALID: "reentry is not once, always or {after: <duration>}",
        _C.WAIT_INVALID: "wait is neither a duration nor {until: <time>}",
        _C.NAME_INVALID: "an id or name (step, journey, segment, channel, ...) has a bad format",
        _C.VARIABLE_NAME_INVALID: "a save_as name cannot be used as a variable",
        _C.ACTION_INVALID: "an action is not written <connector>.<action>",
        _C.EVENT_NAME_INVALID: "an event name is empty, too long or has outer spaces",
        _C.DURATION_INVALID: "a duration is malformed, zero or too long",
        _C.TIME_OF_DAY_INVALID: "a time of day is not 24-hour HH:MM",
        _C.TIMEZONE_INVALID: "a time zone is not an IANA time zone",
        _C.CURRENCY_INVALID: "a currency is not an ISO 4217 code",
        _C.NAME_RESERVED: "a journey id is the name of a workspace report (voc, overview)",
        _C.CRON_INVALID: "a schedule is not a five-field cron expression",
        _C.DUPLICATE_STEP_ID: "two steps have the same id",
        _C.SAVE_AS_RESERVED: "save_as uses a name conditions and templates already use",
        _C.NEXT_NOT_ALLOWED: "a branch, split or exit step has a next",
        _C.UNKNOWN_STEP: "a next, on_timeout, on_error, branch or variant names no step",
        _C.ON_ERROR_NOT_ALLOWED: "a step other than send or call has an on_error",
        _C.BRANCH_ELSE_MISSING: "a branch has no else",
        _C.DUPLICATE_ELSE: "a branch has more than one else",
        _C.ELSE_NOT_LAST: "a branch case comes after the else and can never match",
        _C.STEP_UNREACHABLE: "no path from the first step leads to a step",
        _C.LOOP_WITHOUT_WAIT: "steps form a loop with no wait or wait_for in it",
        _C.DUPLICATE_EXPERIMENT: "two splits use the same experiment key",
        _C.WEIGHTS_NOT_100: "the variant weights of a split do not add up to 100",
        _C.DUPLICATE_VARIANT_NAME: "two variants of a split have the same name",
        _C.DUPLICATE_HOLDOUT: "a split has more than one holdout",
        _C.QUIET_HOURS_EMPTY: "quiet hours start and end at the same time",
        _C.WEEKDAYS_EMPTY: "the weekdays of a wait are empty, so it would never end",
        _C.CONDITION_EMPTY: "a condition is empty",
        _C.CONDITION_SYNTAX: "a condition does not parse as CEL",
        _C.CONDITION_TOO_DEEP: "a condition nests too deeply to be checked",
        _C.UNKNOWN_FUNCTION: "a condition calls a function that does not exist",
        _C.SEGMENT_CALL_INVALID: "segment(...) does not name a segment in quotes",
        _C.UNKNOWN_VARIABLE: "a condition or text uses a name not known at its place",
        _C.VARIABLE_SOMETIMES_SAVED: "a saved result is used where only some paths saved it",
        _C.LIQUID_SYNTAX: "a Liquid text does not parse",
        _C.LIQUID_INCLUDE: "a Liquid text uses {% render %} or {% include %}",
        _C.UNKNOWN_LIQUID_FILTER: "a Liquid text uses a filter that does not exist",
        _C.TEMPLATES_UNCHECKED: "templates are not checked: no templates/ folder was found",
        _C.TEMPLATE_MISSING: "a send step names a template that templates/ does not hold",
        _C.TEMPLATE_INVALID: "a send step names a template file that has errors",
        _C.MJML_INVALID: "a template's .mjml file does not compile to HTML",
        _C.SEND_EMPTY: "a send step has no body and its template neither body nor html",
        _C.CONNECTOR_MISSING: "no installed connector provides a channel or action",
        _C.CHANNEL_CONSOLE_FALLBACK: "only the console fallback serves a channel: nothing is "
        "delivered",
        _C.UNKNOWN_SEGMENT: "a segment named by the journey has no file in segments/",
        _C.EXPERIMENT_SPLIT_CHANGED: "this version changes the split of a running experiment",
        _C.SEGMENT_ID_MISMATCH: "a segment file's name is not the segment id it declares",
        _C.CONDITION_KIND_MISSING: "a segment condition is none of all, any, not, trait, ...",
        _C.CONDITION_KIND_CONFLICT: "a segment condition tests more than one thing",
        _C.FIELD_PATH_INVALID: "a trait or event property name has a bad format",
        _C.COMPARISON_COUNT: "an event aggregate has no comparison, or more than one",
        _C.TRAIT_TEST_COUNT: "a trait condition has no test, or more than one",
        _C.REGEX_INVALID: "matches is not a regular expression",
        _C.DATE_INVALID: "before or after is not an ISO 8601 date",
        _C.VALUE_TEST_COUNT: "a value condition has no test, or more than one",
        _C.VALUE_TEST_MISMATCH: "a value condition tests a number with `is`, or repeat with "
        "a comparison",
        _C.CASE_JOURNEY_NOT_FOUND: "a test file names a journey with no file beside the tests",
        _C.TIMELINE_KIND: "a timeline item is none of event, start, enter_segment, identify",
        _C.TIMELINE_ORDER: "a case's timeline is not in order of `at`",
        _C.CONDITION_SELF_COMPARISON: "a condition compares an event's field with itself",
        _C.TIMELINE_TRIGGER_MISMATCH: "a case starts a journey by API or schedule, which "
        "its trigger is not",
        _C.UNKNOWN_EXPERIMENT: "a test case forces a variant of an experiment the journey lacks",
        _C.UNKNOWN_VARIANT: "a test case names a variant its experiment does not have",
        _C.UNKNOWN_ACTION: "a test answers or expects an action the journey never calls",
        _C.ANSWER_INVALID: "a test's connector answer is not what the action returns",
        _C.CUSTOMER_ID_REPEATED: "two cases of a test file use the same customer id",
    }
)


class CodedValueError(ValueError):
    """A ValueError that names its problem code; the shape checks report it with it.

    Field validators raise it so that a pydantic ``value_error`` becomes a diagnostic
    with a precise code; code that catches ValueError is unaffected.
    """

    def __init__(
        self, code: DiagnosticCode, message: str, context: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.context: dict[str, str] = dict(context or {})
