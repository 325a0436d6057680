"""The engine's errors, each on the one tree rooted at :class:`dsl.errors.CxflowError`.

The whole tree, with codes, is drawn in :mod:`dsl.errors`. Here are the engine's
branches; the modules that raise them import them from here. Every error's message
is written for the person who must act (it names the setting, the file or the
command); programs decide on ``code`` and on the class, never on the message. The
command line maps the tree to exit codes in one place (:mod:`engine.cli.main`).
"""

from __future__ import annotations

from dsl.errors import ConfigurationError, InputError, UnavailableError

# --- input a person wrote ---------------------------------------------------------------------


class UsageError(InputError):
    """Bad command-line input; the message says what to do."""

    code = "usage"


class ConsentError(InputError, ValueError):
    """A consent setting, trait or token that cannot be used; the message says why.

    Also a ValueError, so pydantic validators that raise it report a field problem.
    """

    code = "consent_invalid"


class TemplateError(InputError):
    """A template failed to render for this customer (retrying will not help)."""

    code = "template_failed"


class RoutingError(InputError):
    """A request names a journey that cannot be started this way; the message says why."""

    code = "journey_not_startable"


class AccountError(InputError):
    """A console account cannot be created or changed so (a taken email, a weak password,
    an unknown role or user); the message says what to do."""

    code = "account_invalid"


class ConsoleError(InputError):
    """A console request that cannot be served so (not logged in, a role too low, a form
    without its CSRF token, too many logins); the page says what to do. Each raise gives its
    precise code, and ``status`` the HTTP status of the page."""

    code = "console_refused"

    def __init__(self, message: str, *, code: str | None = None, status: int = 400) -> None:
        super().__init__(message, code=code)
        self.status = status


class CommandError(InputError):
    """A command names something that is not there (a run, a deployed journey or segment);
    the message says how to find what is. Each raise gives its precise code."""

    code = "command_refused"


class DeployRefusedError(InputError):
    """Journey or segment files have errors, so nothing was deployed; their diagnostics were
    reported before it was raised, and the message counts the files."""

    code = "deploy_refused"


# --- the installation ---------------------------------------------------------------------------


class SettingsError(ConfigurationError):
    """A setting has a value that cannot work; the message names the variable."""

    code = "settings_invalid"


class StoreError(ConfigurationError):
    """The store cannot be opened or was used wrongly; the message says what to do."""

    code = "store_unavailable"


class SchemaError(ConfigurationError):
    """The database's schema cannot be brought up to date; the message says why."""

    code = "schema_outdated"


class DevServerError(ConfigurationError):
    """The dev server could not be found or started; the message says what to do."""

    code = "dev_server_failed"


class ApiServerError(ConfigurationError):
    """The API could not start listening; the message says what to change."""

    code = "api_server_failed"


# --- services cxflow needs ----------------------------------------------------------------------


class TemporalUnavailableError(UnavailableError):
    """Temporal cannot be reached at the configured address; the message says which."""

    code = "temporal_unreachable"


class TemporalRequestError(UnavailableError):
    """Temporal did not answer a request (a query, a schedule update); the message says which."""

    code = "temporal_request_failed"


class ErasureError(UnavailableError):
    """Erasure could not finish; the message says what is left and how to finish it."""

    code = "erasure_incomplete"
