"""The `type` names of LLM activity failures: what workflows match on (e.g. an agent shortens its
context on `PROMPT_TOO_LONG`) and what the LLM retry policy lists as non-retryable. No dependencies,
so workflow code can import it freely."""

from __future__ import annotations

__all__ = [
    "AUTHENTICATION",
    "BAD_REQUEST",
    "CLIENT_ERROR",
    "CONFLICT",
    "CONNECTION_ERROR",
    "INVALID_RESPONSE",
    "NON_RETRYABLE_ERROR_TYPES",
    "NOT_FOUND",
    "OVERLOADED",
    "PAYMENT_REQUIRED",
    "PERMISSION_DENIED",
    "PROMPT_TOO_LONG",
    "RATE_LIMITED",
    "REQUEST_TOO_LARGE",
    "RETRY_REQUESTED",
    "SERVER_ERROR",
    "SPEND_LIMIT",
    "TENANT_BUDGET_EXHAUSTED",
    "TIMEOUT",
    "UNPRICED_MODEL",
    "UNPROCESSABLE",
]

# Non-retryable: the request itself is wrong, or the account cannot pay for it.
BAD_REQUEST = "LLMBadRequest"
PROMPT_TOO_LONG = "LLMPromptTooLong"
AUTHENTICATION = "LLMAuthentication"
PAYMENT_REQUIRED = "LLMPaymentRequired"
PERMISSION_DENIED = "LLMPermissionDenied"
NOT_FOUND = "LLMNotFound"
REQUEST_TOO_LARGE = "LLMRequestTooLarge"
UNPROCESSABLE = "LLMUnprocessable"
SPEND_LIMIT = "LLMSpendLimit"
CLIENT_ERROR = "LLMClientError"  # any other 4xx
# The request asked for a priced model (the run has a budget) and the model has no price.
UNPRICED_MODEL = "UnpricedModel"
# The run's tenant has no budget left for this call (TENANT_BUDGETS_FILE; activities/spend). Raised
# non-retryable; not in the policy's list below, which is part of every recorded LLM step's command.
TENANT_BUDGET_EXHAUSTED = "TenantBudgetExhausted"

# Retryable: the next attempt may well succeed.
TIMEOUT = "LLMTimeout"
CONFLICT = "LLMConflict"
RATE_LIMITED = "LLMRateLimited"
SERVER_ERROR = "LLMServerError"
OVERLOADED = "LLMOverloaded"
CONNECTION_ERROR = "LLMConnectionError"
INVALID_RESPONSE = "LLMInvalidResponse"
# A status we would not retry, but the server said `x-should-retry: true`. A type of its own: the
# original type is listed in the retry policy's non_retryable_error_types.
RETRY_REQUESTED = "LLMRetryRequested"

NON_RETRYABLE_ERROR_TYPES: frozenset[str] = frozenset(
    {
        BAD_REQUEST,
        PROMPT_TOO_LONG,
        AUTHENTICATION,
        PAYMENT_REQUIRED,
        PERMISSION_DENIED,
        NOT_FOUND,
        REQUEST_TOO_LARGE,
        UNPROCESSABLE,
        SPEND_LIMIT,
        CLIENT_ERROR,
        UNPRICED_MODEL,
    }
)
