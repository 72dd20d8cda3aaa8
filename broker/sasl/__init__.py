"""SASL authentication on SASL_PLAINTEXT and SASL_SSL listeners, as Kafka's SaslServerAuthenticator.

A connection on a SASL listener must authenticate before anything but ApiVersions is served:
SaslHandshake picks a mechanism, SaslAuthenticate requests carry its exchange
(authenticator.py). Mechanisms, each an `Exchange` that turns client tokens into challenges until
it knows the principal:
- PLAIN (plain.py): users and passwords from the listener's PlainLoginModule JAAS config;
- SCRAM-SHA-256 / SCRAM-SHA-512 (scram.py, with `scramp`): credentials created through
  AlterUserScramCredentials, stored salted and hashed in the data dir;
- OAUTHBEARER (oauthbearer.py): unsecured JWS tokens for development, or JWTs checked against
  `sasl.oauthbearer.jwks.endpoint.url`.
"""

from __future__ import annotations


class AuthenticationFailed(Exception):
    """The client's credentials were refused. The message goes to the client (Kafka's wording,
    never a secret); `log_detail` only to the broker's log."""

    def __init__(self, message: str, log_detail: str = ""):
        super().__init__(message)
        self.log_detail = log_detail or message


class Exchange:
    """One mechanism's server side of one authentication."""

    # True when evaluate() may block (fetching a JWKS): it then runs in a thread.
    blocking = False

    def __init__(self):
        self.principal: str | None = None  # set once the exchange succeeded
        self.lifetime_ms: int | None = None  # when the credential itself expires (a token)

    @property
    def complete(self) -> bool:
        return self.principal is not None

    def evaluate(self, token: bytes) -> bytes:
        """The challenge answering the client's `token`; raises AuthenticationFailed."""
        raise NotImplementedError


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SUPPORTED = ("PLAIN", *SCRAM_MECHANISMS, "OAUTHBEARER")
