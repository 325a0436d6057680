"""The root of cxflow's one error tree: every error cxflow raises on purpose is a CxflowError.

Each error has a stable snake_case ``code`` for programs (an API response, ``--json``
output, a test) beside a ``message`` written for the person who must act on it; no
code decides anything on message text. The three categories under the root say who
must act: the author of some input, whoever set up the installation, or nobody yet
(a service is down; retrying later may help). Connector errors stand apart: whether a
connector's failure can be retried is what the runtime needs to know about them.

``dsl`` is the package every other cxflow package may import, so the root lives here;
the other packages hang their errors on it. The whole tree, with each class's code
and the module that defines it (ExpiredSurveyTokenError is also an ExpiredLinkError)::

    CxflowError                                 cxflow_error              dsl.errors
    ├── InputError                              input_invalid             dsl.errors
    │   ├── JourneyInvalidError                 journey_invalid           dsl.diagnostics
    │   ├── SegmentInvalidError                 segment_invalid           dsl.segment_loader
    │   ├── SourceError                         yaml_unreadable           dsl.source
    │   ├── ConditionError                      condition_invalid         dsl.expressions
    │   ├── UsageError                          usage                     engine.errors
    │   ├── CommandError                        command_refused           engine.errors
    │   ├── DeployRefusedError                  deploy_refused            engine.errors
    │   ├── ConsentError                        consent_invalid           engine.errors
    │   ├── TemplateError                       template_failed           engine.errors
    │   ├── RoutingError                        journey_not_startable     engine.errors
    │   ├── AccountError                        account_invalid           engine.errors
    │   ├── ConsoleError                        console_refused           engine.errors
    │   ├── ApiProblemError                     request_refused           engine.api.problems
    │   ├── InboundRejectedError                inbound_invalid           connectors.inbound
    │   ├── SurveyScoreError                    survey_score_invalid      connectors.builtin.survey.tokens
    │   └── InvalidLinkError                    link_invalid              connectors.signing
    │       ├── ExpiredLinkError                link_expired              connectors.signing
    │       └── SurveyTokenError                link_invalid              connectors.builtin.survey.tokens
    │           ├── InvalidSurveyTokenError     link_invalid              connectors.builtin.survey.tokens
    │           └── ExpiredSurveyTokenError     link_expired              connectors.builtin.survey.tokens
    ├── ConfigurationError                      configuration_invalid     dsl.errors
    │   ├── SettingsError                       settings_invalid          engine.errors
    │   ├── StoreError                          store_unavailable         engine.errors
    │   ├── SchemaError                         schema_outdated           engine.errors
    │   ├── DevServerError                      dev_server_failed         engine.errors
    │   ├── ApiServerError                      api_server_failed         engine.errors
    │   ├── WebhookConfigError                  webhook_not_configured    connectors.builtin.shopify.webhooks
    │   └── SurveyNotConfiguredError            survey_not_configured     connectors.builtin.survey.pages
    ├── UnavailableError                        service_unavailable       dsl.errors
    │   ├── TemporalUnavailableError            temporal_unreachable      engine.errors
    │   ├── TemporalRequestError                temporal_request_failed   engine.errors
    │   └── ErasureError                        erasure_incomplete        engine.errors
    ├── ConnectorError                          connector_failed          connectors.errors
    │   ├── RetryableConnectorError             connector_retryable       connectors.errors
    │   └── PermanentConnectorError             connector_permanent       connectors.errors
    │       ├── ConnectorPluginError            connector_plugin_invalid  connectors.errors
    │       ├── ConnectorNotFoundError          connector_not_found       connectors.errors
    │       └── OutboundRefusedError            outbound_refused          connectors.outbound
    └── CxflowClientError                       delivery_failed           engine.api.client

The errors that report a file (JourneyInvalidError, SegmentInvalidError, SourceError)
also carry its diagnostics, each with its own problem code (see ``dsl.codes``).
"""

from __future__ import annotations

from typing import Any


class CxflowError(Exception):
    """Base of every error cxflow raises on purpose; ``str(error)`` is its message.

    ``code`` is stable and snake_case; a subclass sets its own, and one raise may give
    a more precise one with ``code=``. (It is a class attribute with an instance override,
    so it is declared ``str`` rather than ``ClassVar[str]``, which mypy would not let an
    instance assign.)
    """

    code: str = "cxflow_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle every attribute without calling ``__init__`` again: subclasses take other
        arguments (a list of diagnostics), and errors cross process boundaries."""
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def _restore(cls: type[CxflowError], args: tuple[Any, ...], state: dict[str, Any]) -> CxflowError:
    error = cls.__new__(cls, *args)
    error.__dict__.update(state)
    return error


class InputError(CxflowError):
    """Input a person wrote is wrong (a file, a flag, a request body): they must fix it."""

    code = "input_invalid"


class ConfigurationError(CxflowError):
    """The installation is set up wrongly (settings, store, secrets): its operator must act."""

    code = "configuration_invalid"


class UnavailableError(CxflowError):
    """A service cxflow needs cannot be reached now: retrying later may help."""

    code = "service_unavailable"
