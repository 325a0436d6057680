"""Reading a journey YAML file while keeping the line and column of every key and value.

ruamel.yaml's round-trip loader records positions on the mappings and
sequences it builds; :class:`SourceDocument` keeps that tree beside a plain
copy of the data, so any later check can point at the exact place in the file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from dsl.codes import DiagnosticCode
from dsl.diagnostics import Diagnostic
from dsl.errors import InputError

Location = Sequence[str | int]

# Aliases (``*name``) repeat an anchored value (``&name``) without copying it in the file,
# so a few hundred bytes can stand for billions of values ("billion laughs"). A journey
# or segment needs a few small ones at most (a shared ``params:`` block), so both are
# bounded while the file is read, before anything walks the values.
MAX_ALIASES = 100
"""Most aliases (``*name``) one file may use."""
MAX_ALIAS_VALUES = 10_000
"""Most values (mappings, lists and scalars, counted after expansion) all aliases of
one file may stand for together."""

RECURSIVE_MESSAGE = (
    "the YAML nests too deeply or an alias (*name) refers to a node that contains it: "
    "write the value out instead of using the alias"
)
YAML_HINT = (
    "check the indentation, and put quotes around values that contain ': ' or ' #' or "
    "start with {, [, *, &, !, %, @ or `"
)


class SourceError(InputError):
    """The file could not be read as YAML; carries the diagnostic to show (and its code)."""

    code = "yaml_unreadable"

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
        super().__init__(diagnostic.render())


class AliasError(Exception):
    """An alias took the file over :data:`MAX_ALIASES` or :data:`MAX_ALIAS_VALUES`, or
    refers to a node that contains it (``limit`` is then ``recursive``)."""

    def __init__(self, alias: str, line: int, column: int, limit: str) -> None:
        super().__init__(f"alias *{alias} at line {line + 1} goes over the {limit} limit")
        self.alias = alias
        self.line = line
        self.column = column
        self.limit = limit  # "aliases", "values" or "recursive"


class _BoundedComposer(Composer):
    """ruamel's composer, counting the aliases of a file and the values they stand for.

    An alias returns the anchored node itself, so composing stays cheap whatever the
    aliases expand to; the expanded size of every finished node is remembered, which
    makes each alias cost one dictionary look-up. An alias to a node still being
    composed (an alias inside its own anchor) would make the value infinite.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader=loader)
        self._sizes: dict[int, int] = {}
        self._aliases = 0
        self._alias_values = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                mark = event.start_mark
                if id(target) not in self._sizes:  # not finished: the alias is inside it
                    raise AliasError(str(event.anchor), mark.line, mark.column, "recursive")
                self._aliases += 1
                self._alias_values += self._sizes[id(target)]
                limit = (
                    "aliases"
                    if self._aliases > MAX_ALIASES
                    else "values"
                    if self._alias_values > MAX_ALIAS_VALUES
                    else None
                )
                if limit is not None:
                    raise AliasError(str(event.anchor), mark.line, mark.column, limit)
            return super().compose_node(parent, index)
        node = super().compose_node(parent, index)
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._sizes.get(id(item), 1) for item in node.value)
        elif isinstance(node, MappingNode):
            size += sum(
                self._sizes.get(id(key), 1) + self._sizes.get(id(value), 1)
                for key, value in node.value
            )
        self._sizes[id(node)] = size
        return node


@dataclass(frozen=True)
class Located:
    """A node of the YAML tree found for a location, with the path actually walked."""

    line: int
    column: int
    path: tuple[str | int, ...]
    value: Any
    found: bool


class SourceDocument:
    """A parsed YAML file: plain data for validation, positions for messages."""

    def __init__(self, file: str, text: str, tree: Any) -> None:
        self.file = file
        self.text = text
        self.tree = tree
        self.data = to_plain(tree)

    def locate(self, location: Location, *, key: bool = False) -> Located:
        """Walk ``location`` through the tree as far as it exists.

        Elements not present in the tree (pydantic's union tags, or a missing last key)
        are skipped. With ``key``, the position of a mapping's last key is returned
        instead of its value, which is where an unknown key should be shown.
        """
        node: Any = self.tree
        line, column = 0, 0
        if isinstance(node, CommentedMap | CommentedSeq):
            line, column = node.lc.line, node.lc.col
        walked: list[str | int] = []
        found = True
        for index, element in enumerate(location):
            is_last = index == len(location) - 1
            if isinstance(node, CommentedMap) and _has_key(node, element):
                real_key = _real_key(node, element)
                if (key and is_last) or node[real_key] is None:
                    # an empty value has no position of its own: show its key
                    line, column = _position(node, real_key, key=True)
                else:
                    line, column = _position(node, real_key)
                node = node[real_key]
                walked.append(element)
            elif (
                isinstance(node, CommentedSeq)
                and isinstance(element, int)
                and 0 <= element < len(node)
            ):
                line, column = node.lc.item(element)
                node = node[element]
                walked.append(element)
            elif is_last:
                found = False
        return Located(line + 1, column + 1, tuple(walked), to_plain(node), found)

    def diagnostic(
        self,
        location: Location,
        message: str,
        *,
        code: DiagnosticCode,
        context: Mapping[str, str] | None = None,
        key: bool = False,
    ) -> Diagnostic:
        """A diagnostic of kind ``code`` pointing at ``location`` in this file."""
        located = self.locate(location, key=key)
        return Diagnostic(
            file=self.file,
            line=located.line,
            column=located.column,
            path=format_path(located.path),
            message=message,
            code=code,
            context=dict(context or {}),
        )


def _position(node: CommentedMap, real_key: Any, *, key: bool = False) -> tuple[int, int]:
    """Where a key (or its value) is written; a key a merge (``<<: *base``) brought in
    is written in the anchored mapping, so it is shown at the ``<<`` of this one."""
    if real_key in node.lc.data:
        position: tuple[int, int] = node.lc.key(real_key) if key else node.lc.value(real_key)
        return position
    if "<<" in node.lc.data:
        merge: tuple[int, int] = node.lc.key("<<")
        return merge
    return node.lc.line, node.lc.col


def _has_key(node: CommentedMap, element: str | int) -> bool:
    return element in node or str(element) in {str(k) for k in node}


def _real_key(node: CommentedMap, element: str | int) -> Any:
    if element in node:
        return element
    return next(k for k in node if str(k) == str(element))


def format_path(path: Sequence[str | int]) -> str:
    """``('steps', 2, 'send', 'channel')`` -> ``steps[2].send.channel``."""
    text = ""
    for element in path:
        if isinstance(element, int):
            text += f"[{element}]"
        else:
            text += f".{element}" if text else str(element)
    return text


def to_plain(node: Any, _seen: frozenset[int] = frozenset()) -> Any:
    """Turn ruamel's node types into plain dicts, lists and JSON-friendly scalars."""
    if isinstance(node, dict | list):
        if id(node) in _seen:
            raise RecursionError("a YAML alias refers to a node that contains it")
        seen = _seen | {id(node)}
        if isinstance(node, dict):
            return {_plain_key(k): to_plain(v, seen) for k, v in node.items()}
        return [to_plain(v, seen) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.datetime | dt.date):
        return node.isoformat()
    if node is None:
        return None
    return str(node)


def _plain_key(key: Any) -> Any:
    plain = to_plain(key)
    return plain if isinstance(plain, str | int | float | bool) or plain is None else str(plain)


def parse_yaml(text: str, file: str) -> SourceDocument:
    """Parse YAML text; raise :class:`SourceError` with a positioned message when it is not."""
    loader = YAML(typ="rt", pure=True)
    loader.Composer = _BoundedComposer
    loader.allow_duplicate_keys = False
    try:
        tree = loader.load(text)
        tagged = _first_tagged_value(tree)
        if tagged is not None:
            raise SourceError(_tagged_error(tagged, file))
        return SourceDocument(file, text, tree)
    except AliasError as error:
        raise SourceError(_alias_error(error, file)) from None
    except MarkedYAMLError as error:
        raise SourceError(_marked_error(error, file)) from None
    except YAMLError as error:
        raise SourceError(
            _plain_error(f"this is not valid YAML: {error}", file, DiagnosticCode.YAML_SYNTAX)
        ) from None
    except RecursionError:
        raise SourceError(
            _plain_error(
                RECURSIVE_MESSAGE,
                file,
                DiagnosticCode.YAML_RECURSIVE,
            )
        ) from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
        raise SourceError(
            _plain_error(
                f"this is not valid YAML ({error}): {YAML_HINT}", file, DiagnosticCode.YAML_SYNTAX
            )
        ) from None


def _first_tagged_value(
    node: Any, depth: int = 0, seen: set[int] | None = None
) -> tuple[int, int, str] | None:
    """The position and text of the first value YAML read as a tag (`!has(x)`), if any.

    A CEL condition such as ``!has(event.x)`` written without quotes is read by YAML as
    a tag with an empty value; the author needs to hear that, not "condition is empty".
    A node reached again through an alias is not walked again.
    """
    if depth > 200:
        return None
    seen = set() if seen is None else seen
    if id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, CommentedMap):
        items: list[tuple[Any, tuple[int, int]]] = [
            (v, _position(node, k)) for k, v in node.items()
        ]
    elif isinstance(node, CommentedSeq):
        items = [(v, node.lc.item(i)) for i, v in enumerate(node)]
    else:
        return None
    for value, (line, column) in items:
        tag = getattr(getattr(value, "tag", None), "value", None)
        if isinstance(tag, str) and tag.startswith("!") and not tag.startswith("tag:yaml.org"):
            return line, column, tag
        found = _first_tagged_value(value, depth + 1, seen)
        if found is not None:
            return found
    return None


def _alias_error(error: AliasError, file: str) -> Diagnostic:
    if error.limit == "recursive":
        return Diagnostic(
            file=file,
            line=error.line + 1,
            column=error.column + 1,
            path="",
            message=RECURSIVE_MESSAGE,
            code=DiagnosticCode.YAML_RECURSIVE,
            context={"alias": error.alias},
        )
    if error.limit == "aliases":
        what = (
            f"is alias number {MAX_ALIASES + 1} of the file: a journey or segment file may "
            f"use at most {MAX_ALIASES} aliases (*name)"
        )
        maximum = MAX_ALIASES
    else:
        what = (
            f"takes the file over {MAX_ALIAS_VALUES:,} values repeated by aliases: an alias "
            "repeats everything its anchor holds, the aliases inside it included"
        )
        maximum = MAX_ALIAS_VALUES
    return Diagnostic(
        file=file,
        line=error.line + 1,
        column=error.column + 1,
        path="",
        message=f"the alias *{error.alias} {what}. Write the values out instead, or use "
        "fewer aliases",
        code=DiagnosticCode.YAML_ALIAS_LIMIT,
        context={"alias": error.alias, "limit": error.limit, "max": str(maximum)},
    )


def _tagged_error(tagged: tuple[int, int, str], file: str) -> Diagnostic:
    line, column, tag = tagged
    return Diagnostic(
        file=file,
        line=line + 1,
        column=column + 1,
        path="",
        message=f"YAML reads `{tag}` as a tag, not as text: put the whole value in quotes, "
        f'e.g. "{tag}"',
        code=DiagnosticCode.YAML_TAG,
        context={"tag": tag},
    )


def _marked_error(error: MarkedYAMLError, file: str) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else 1
    column = mark.column + 1 if mark is not None else 1
    problem = (error.problem or error.context or "invalid YAML").strip()
    code = DiagnosticCode.YAML_SYNTAX
    context: dict[str, str] = {}
    if isinstance(error, DuplicateKeyError):
        name = _duplicate_key(str(error))
        code, context = DiagnosticCode.YAML_DUPLICATE_KEY, {"key": name} if name else {}
        key = f"`{name}`" if name else "a key"
        message = (
            f"the key {key} appears twice in the same mapping: keep one of them "
            "(YAML would silently drop the other)"
        )
    elif isinstance(error, ComposerError) and "expected a single document" in str(error):
        code = DiagnosticCode.YAML_MULTIPLE_DOCUMENTS
        message = "the file holds more than one YAML document ('---'): put one journey per file"
    else:
        opened = ""
        context_mark = error.context_mark
        if error.context and context_mark is not None and context_mark is not mark:
            what = _plain_construct(error.context)
            start = f"line {context_mark.line + 1}, column {context_mark.column + 1}"
            opened = f" (in the {what} that starts on {start})"
        message = f"YAML syntax error: {problem}{opened}; {YAML_HINT}"
    return Diagnostic(
        file=file, line=line, column=column, path="", message=message, code=code, context=context
    )


_CONSTRUCTS = {
    "flow sequence": "[...] list",
    "flow mapping": "{...} mapping",
    "block mapping": "mapping",
    "block sequence": "list",
    "block collection": "list or mapping",
    "quoted scalar": "quoted text",
    "plain scalar": "value",
}


def _plain_construct(context: str) -> str:
    """ "while parsing a flow sequence" -> "[...] list"."""
    what = context.removeprefix("while parsing ").removeprefix("while scanning ")
    what = what.removeprefix("a ").removeprefix("an ")
    return _CONSTRUCTS.get(what, what)


def _duplicate_key(text: str) -> str | None:
    marker = 'found duplicate key "'
    start = text.find(marker)
    if start < 0:
        return None
    end = text.find('"', start + len(marker))
    return text[start + len(marker) : end]


def _plain_error(message: str, file: str, code: DiagnosticCode) -> Diagnostic:
    return Diagnostic(file=file, line=1, column=1, path="", message=message, code=code)
